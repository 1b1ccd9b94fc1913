//! The management API over real HTTP: Rancher's routes and shapes, Rancher's validation
//! rules, authorization decided by Cattle, revocation, and receivers Rancher created.

use std::time::Duration;

use http::Method;
use serde_json::{json, Value};

use crate::support::*;

const T: Duration = Duration::from_secs(5);

fn receivers(edge: &Edge, project: &str) -> String {
    format!("{}/v1-webhooks/receivers?projectId={project}", edge.base)
}

async fn create(edge: &Edge, creds: Option<(&str, &str)>, project: &str, body: &Value) -> Reply {
    http(
        Method::POST,
        &receivers(edge, project),
        creds,
        &[],
        Some(&body.to_string()),
    )
    .await
}

fn scale_body(name: &str, service: &str) -> Value {
    json!({"type": "receiver", "name": name, "driver": "scaleService",
           "scaleServiceConfig": {"type": "scaleService", "serviceId": service, "action": "up", "amount": 1, "min": 1, "max": 4},
           "scaleHostConfig": null, "serviceUpgradeConfig": null})
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn lifecycle_create_get_fire_list_delete() {
    let edge = start_edge(T).await;
    let r = create(&edge, Some(ALICE), "1a5", &scale_body("up1", "1s1")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        !String::from_utf8_lossy(&r.body).contains("\\u0026"),
        "& must not be HTML-escaped"
    );
    assert_eq!(r.headers["cache-control"], "no-store");
    let rec = r.json();
    let id = rec["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("1go"));
    assert_eq!(rec["type"], "receiver");
    assert_eq!(rec["name"], "up1");
    assert_eq!(rec["driver"], "scaleService");
    assert_eq!(rec["scaleServiceConfig"]["type"], "scaleService");
    assert_eq!(rec["scaleServiceConfig"]["serviceId"], "1s1");
    assert_eq!(rec["scaleServiceConfig"]["max"], 4);
    for inactive in [
        "scaleHostConfig",
        "serviceUpgradeConfig",
        "forwardPostConfig",
    ] {
        assert_eq!(rec[inactive], json!({}), "{inactive}");
    }
    assert_eq!(
        rec["links"]["self"],
        format!("{}/v1-webhooks/receivers/{id}?projectId=1a5", edge.base)
    );
    let url = rec["url"].as_str().expect("url").to_owned();
    assert!(
        url.starts_with(&format!("{}/v1-webhooks/endpoint?token=hg1.", edge.base)),
        "{url}"
    );
    assert!(url.len() < 400 + edge.base.len() + 40);

    // Stored where Rancher stored it, in Rancher's shape, keyed by the receiver id.
    let go = get(
        &edge
            .sim
            .url(&format!("/v2-beta/projects/1a5/genericobjects/{id}")),
        SERVICE,
    )
    .await
    .json();
    assert_eq!(go["kind"], "webhookReceiver");
    assert_eq!(go["name"], "up1");
    assert_eq!(go["resourceData"]["driver"], "scaleService");
    assert_eq!(go["resourceData"]["config"]["serviceId"], "1s1");
    assert!(go["resourceData"]["url"].is_string());
    assert_eq!(go["key"].as_str().map(str::len), Some(32));

    let one = get(rec["links"]["self"].as_str().expect("self"), ALICE).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["scaleServiceConfig"], rec["scaleServiceConfig"]);
    assert_eq!(one.json()["url"], rec["url"]);

    let fired = http(Method::POST, &url, None, &[], None).await;
    assert_eq!(
        (fired.status.as_u16(), fired.json()["to"].as_i64()),
        (200, Some(3))
    );

    let list = get(&receivers(&edge, "1a5"), ALICE).await.json();
    assert_eq!(list["type"], "collection");
    assert_eq!(list["resourceType"], "receiver");
    assert_eq!(ids(&list), std::slice::from_ref(&id));

    let del = http(
        Method::DELETE,
        rec["links"]["self"].as_str().expect("self"),
        Some(ALICE),
        &[],
        None,
    )
    .await;
    assert_eq!(del.status, 204);
    assert!(del.body.is_empty());
    assert!(ids(&get(&receivers(&edge, "1a5"), ALICE).await.json()).is_empty());
    // Revoked at once on this replica.
    assert_eq!(http(Method::POST, &url, None, &[], None).await.status, 403);
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3);

    // Clone: the UI posts an existing receiver's fields under a new name.
    let mut clone = one.json();
    for k in ["id", "links", "actions", "url", "state"] {
        clone.as_object_mut().expect("object").remove(k);
    }
    clone["name"] = "up1-copy".into();
    let r = create(&edge, Some(ALICE), "1a5", &clone).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_ne!(r.json()["id"].as_str(), Some(id.as_str()));
    assert_ne!(r.json()["url"], rec["url"]);
}

#[tokio::test]
async fn validation_rules_name_the_field() {
    let edge = start_edge(T).await;
    assert_eq!(
        create(&edge, Some(ALICE), "1a5", &scale_body("taken", "1s1"))
            .await
            .status,
        200
    );
    let ss = |cfg: Value| json!({"name": "x", "driver": "scaleService", "scaleServiceConfig": cfg});
    let base = json!({"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 4});
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        if v.is_null() {
            c.as_object_mut().expect("obj").remove(k);
        } else {
            c[k] = v;
        }
        ss(c)
    };
    let host = |cfg: Value| json!({"name": "h", "driver": "scaleHost", "scaleHostConfig": cfg});
    let upg =
        |cfg: Value| json!({"name": "u", "driver": "serviceUpgrade", "serviceUpgradeConfig": cfg});
    let upg_ok = json!({"serviceSelector": {"app": "web"}, "tag": "wh-tag", "batchSize": 1, "intervalMillis": 2, "startFirst": true});
    let upg_with = |k: &str, v: Value| {
        let mut c = upg_ok.clone();
        c[k] = v;
        upg(c)
    };
    // (case, body, status, field named in the error)
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, u16, Option<&str>)> = vec![
        ("name missing", json!({"driver": "scaleService", "scaleServiceConfig": base}), 400, Some("name")),
        ("driver missing", json!({"name": "x"}), 400, Some("driver")),
        ("driver unknown", json!({"name": "x", "driver": "driverInvalid"}), 400, Some("driver")),
        ("config missing", json!({"name": "x", "driver": "scaleService", "scaleServiceConfig": null}), 400, Some("scaleServiceConfig")),
        ("duplicate name", scale_body("taken", "1s1"), 400, Some("name")),
        ("float amount", with("amount", json!(1.5)), 400, None),
        ("float min", with("min", json!(1.5)), 400, None),
        ("float max", with("max", json!(4.5)), 400, None),
        ("negative min", with("min", json!(-1)), 400, Some("min")),
        ("negative max", with("max", json!(-4)), 400, Some("max")),
        ("min not below max", with("min", json!(4)), 400, Some("max")),
        ("zero amount", with("amount", json!(0)), 400, Some("amount")),
        ("no action", with("action", Value::Null), 400, Some("action")),
        ("bad action", with("action", json!("random")), 400, Some("action")),
        ("no service", with("serviceId", Value::Null), 400, Some("serviceId")),
        ("unknown service", with("serviceId", json!("1s99")), 400, Some("serviceId")),
        ("other project's service", with("serviceId", json!("1s6")), 400, Some("serviceId")),
        ("alias service", with("serviceId", json!("1s4")), 400, Some("serviceId")),
        ("global service", with("serviceId", json!("1s3")), 400, Some("serviceId")),
        ("service without image", with("serviceId", json!("1s5")), 400, Some("serviceId")),
        ("bad onResolved", with("onResolved", json!("later")), 400, Some("onResolved")),
        ("host: nothing to select", host(json!({"action": "up", "amount": 1, "min": 1, "max": 4})), 400, Some("hostSelector")),
        ("host: unknown template", host(json!({"hostTemplateId": "1ht9", "action": "up", "amount": 1, "min": 1, "max": 4})), 400, Some("hostTemplateId")),
        ("host: delete option on up", host(json!({"hostTemplateId": "1ht1", "action": "up", "amount": 1, "min": 1, "max": 4, "deleteOption": "mostRecent"})), 400, Some("deleteOption")),
        ("host: bad delete option", host(json!({"hostSelector": {"foo": "bar"}, "action": "down", "amount": 1, "min": 1, "max": 4, "deleteOption": "random"})), 400, Some("deleteOption")),
        ("host: bad action", host(json!({"hostSelector": {"foo": "bar"}, "action": "random", "amount": 1, "min": 1, "max": 4})), 400, Some("action")),
        ("upgrade: no selector", upg(json!({"tag": "x", "batchSize": 1, "intervalMillis": 2})), 400, Some("serviceSelector")),
        ("upgrade: no tag", upg_with("tag", json!("")), 400, Some("tag")),
        ("upgrade: bad tag", upg_with("tag", json!("-startsWithDash")), 400, Some("tag")),
        ("upgrade: long tag", upg_with("tag", json!("a".repeat(135))), 400, Some("tag")),
        ("upgrade: zero batch", upg_with("batchSize", json!(0)), 400, Some("batchSize")),
        ("upgrade: zero interval", upg_with("intervalMillis", json!(0)), 400, Some("intervalMillis")),
        ("upgrade: bad format", upg_with("payloadFormat", json!("myhub")), 400, Some("payloadFormat")),
        ("forward: bad port", json!({"name": "f", "driver": "forwardPost", "forwardPostConfig": {"serviceName": "web", "port": "http", "path": "/v1"}}), 400, Some("port")),
        ("forward: no such service", json!({"name": "f", "driver": "forwardPost", "forwardPostConfig": {"serviceName": "nope", "port": "80", "path": "/v1"}}), 400, Some("serviceName")),
        ("forward: other project", json!({"name": "f", "driver": "forwardPost", "forwardPostConfig": {"projectId": "1a7", "serviceName": "api", "port": "80"}}), 400, Some("projectId")),
    ];
    for (name, body, status, field) in cases {
        let r = create(&edge, Some(ALICE), "1a5", &body).await;
        assert_eq!(
            r.status,
            status,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let v = r.json();
        assert_eq!(
            (v["type"].as_str(), v["status"].as_u64()),
            (Some("error"), Some(u64::from(status))),
            "{name}"
        );
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}"
        );
        if let Some(f) = field {
            assert_eq!(v["fieldName"], f, "{name}: {v}");
        }
    }
    // Nothing was created by any refused request.
    let list = get(&receivers(&edge, "1a5"), ALICE).await.json();
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));

    // Every tag Rancher accepted is accepted, and each driver can be created.
    for tag in [
        "wh-tag",
        "1.2.3",
        "latest",
        "1.2.3-alpha1-pre1_rc1",
        "_startsWithUnderscore",
        "version.latest.123-version_latest",
    ] {
        let r = create(&edge, Some(ALICE), "1a5", &json!({"name": format!("t-{tag}"), "driver": "serviceUpgrade", "serviceUpgradeConfig": {"serviceSelector": {"app": "web", "tier": ""}, "tag": tag, "batchSize": 1, "intervalMillis": 2, "payloadFormat": "dockerhub", "addressType": "registry", "startFirst": false}})).await;
        assert_eq!(r.status, 200, "{tag}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["serviceUpgradeConfig"]["type"], "serviceUpgrade");
    }
    let others = [
        (
            "scaleHost",
            json!({"name": "h-tpl", "driver": "scaleHost", "scaleHostConfig": {"hostTemplateId": "1ht1", "action": "up", "amount": 1, "min": 1, "max": 4}}),
        ),
        (
            "scaleHost",
            json!({"name": "h-sel", "driver": "scaleHost", "scaleHostConfig": {"hostSelector": {"pool": "workers"}, "action": "down", "amount": 1, "min": 1, "max": 4, "deleteOption": "leastRecent"}}),
        ),
        (
            "forwardPost",
            json!({"name": "fwd", "driver": "forwardPost", "forwardPostConfig": {"projectId": "1a5", "serviceName": "web", "port": "60080", "path": "/v1"}}),
        ),
    ];
    for (driver, body) in others {
        let r = create(&edge, Some(ALICE), "1a5", &body).await;
        assert_eq!(
            r.status,
            200,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()[format!("{driver}Config")]["type"], driver);
    }
}

#[tokio::test]
async fn request_shape_rules() {
    let edge = start_edge(T).await;
    let body = scale_body("shape", "1s1").to_string();
    let url = receivers(&edge, "1a5");
    let no_project = format!("{}/v1-webhooks/receivers", edge.base);
    // (case, url, content type, well-formed body, status)
    let cases = [
        (
            "missing projectId",
            &no_project,
            Some("application/json"),
            true,
            400,
        ),
        ("text/plain", &url, Some("text/plain"), true, 400),
        ("no content type", &url, None, true, 400),
        ("not JSON", &url, Some("application/json"), false, 400),
        (
            "charset accepted",
            &url,
            Some("application/json; charset=utf-8"),
            true,
            200,
        ),
    ];
    for (name, u, content_type, good_body, want) in cases {
        let payload = if good_body {
            body.as_str()
        } else {
            "{not json"
        };
        let r = raw_post(u, Some(ALICE), content_type, payload).await;
        assert_eq!(
            r.status,
            want,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(
        http(Method::GET, &no_project, Some(ALICE), &[], None)
            .await
            .status,
        400
    );
    assert_eq!(
        http(Method::PUT, &url, Some(ALICE), &[], Some("{}"))
            .await
            .status,
        405
    );
    assert_eq!(
        get(
            &format!("{}/v1-webhooks/receivers/1go999?projectId=1a5", edge.base),
            ALICE
        )
        .await
        .status,
        404
    );
    // A generic object that is not a receiver is not a receiver.
    let other = http(
        Method::POST,
        &edge.sim.url("/v2-beta/projects/1a5/genericobjects"),
        Some(SERVICE),
        &[],
        Some(r#"{"name": "n", "key": "k", "kind": "somethingElse"}"#),
    )
    .await
    .json();
    let other_url = format!(
        "{}/v1-webhooks/receivers/{}?projectId=1a5",
        edge.base,
        other["id"].as_str().expect("id")
    );
    assert_eq!(get(&other_url, ALICE).await.status, 404);
    assert_eq!(
        http(Method::DELETE, &other_url, Some(ALICE), &[], None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn cattle_decides_who_sees_what() {
    let edge = start_edge(T).await;
    let web = create(&edge, Some(SERVICE), "1a5", &scale_body("web-up", "1s1"))
        .await
        .json();
    let api = create(&edge, Some(SERVICE), "1a7", &scale_body("api-up", "1s6"))
        .await
        .json();
    let keys = [("alice", ALICE), ("bob", BOB), ("service", SERVICE)];
    // (key, project) → may act; everyone else is 403.
    let allowed =
        |who: &str, project: &str| who == "service" || (who == "alice") == (project == "1a5");
    for (who, key) in keys {
        for (project, service, existing) in [("1a5", "1s1", &web), ("1a7", "1s6", &api)] {
            let want = if allowed(who, project) { 200 } else { 403 };
            let list = get(&receivers(&edge, project), key).await;
            assert_eq!(list.status, want, "{who} lists {project}");
            let made = create(
                &edge,
                Some(key),
                project,
                &scale_body(&format!("{who}-{project}"), service),
            )
            .await;
            assert_eq!(made.status, want, "{who} creates in {project}");
            let got = get(existing["links"]["self"].as_str().expect("self"), key).await;
            assert_eq!(got.status, want, "{who} reads in {project}");
            if want == 403 {
                let del = http(
                    Method::DELETE,
                    existing["links"]["self"].as_str().expect("self"),
                    Some(key),
                    &[],
                    None,
                )
                .await;
                assert_eq!(del.status, 403, "{who} deletes in {project}");
            }
        }
    }
    // Without credentials: 401. With wrong ones: 401.
    assert_eq!(
        http(Method::GET, &receivers(&edge, "1a5"), None, &[], None)
            .await
            .status,
        401
    );
    assert_eq!(
        get(&receivers(&edge, "1a5"), ("alice", "nope"))
            .await
            .status,
        401
    );
    assert_eq!(
        create(&edge, None, "1a5", &scale_body("anon", "1s1"))
            .await
            .status,
        401
    );
    // alice cannot mint a token for 1s6: not through 1a5 (no such service there)...
    assert_eq!(
        create(&edge, Some(ALICE), "1a5", &scale_body("steal", "1s6"))
            .await
            .status,
        400
    );
    // ...nor through 1a7 (no access).
    assert_eq!(
        create(&edge, Some(ALICE), "1a7", &scale_body("steal", "1s6"))
            .await
            .status,
        403
    );
    // The refused deletes changed nothing: both receivers still fire.
    for rec in [&web, &api] {
        let r = http(
            Method::POST,
            rec["url"].as_str().expect("url"),
            None,
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
}

#[tokio::test]
async fn receivers_rancher_created_keep_working() {
    let edge = start_edge(T).await;
    let key = "Q8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a";
    let record = json!({"name": "legacy-up", "key": key, "kind": "webhookReceiver", "resourceData": {
        "url": format!("http://rancher:8080/v1-webhooks/endpoint?key={key}&projectId=1a5"),
        "driver": "scaleService",
        "config": {"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 4}}});
    let r = http(
        Method::POST,
        &edge.sim.url("/v2-beta/projects/1a5/genericobjects"),
        Some(SERVICE),
        &[],
        Some(&record.to_string()),
    )
    .await;
    assert_eq!(r.status, 201);
    let go_id = r.json()["id"].as_str().expect("id").to_owned();
    // A record missing its data is skipped, as Rancher's service did.
    http(Method::POST, &edge.sim.url("/v2-beta/projects/1a5/genericobjects"), Some(SERVICE), &[], Some(r#"{"name": "broken", "key": "b", "kind": "webhookReceiver", "resourceData": {"driver": "scaleService"}}"#)).await;

    let list = get(&receivers(&edge, "1a5"), ALICE).await.json();
    let rec = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|r| r["id"] == go_id.as_str())
        .cloned()
        .expect("listed");
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(1),
        "the broken record is skipped"
    );
    assert_eq!(rec["name"], "legacy-up");
    assert_eq!(rec["driver"], "scaleService");
    assert_eq!(
        rec["scaleServiceConfig"],
        json!({"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 4, "type": "scaleService"})
    );
    let url = rec["url"].as_str().expect("url").to_owned();
    assert_eq!(
        url,
        format!("{}/v1-webhooks/endpoint?key={key}&projectId=1a5", edge.base)
    );

    let fired = http(Method::POST, &url, None, &[], None).await;
    assert_eq!(
        (fired.status.as_u16(), fired.json()["to"].as_i64()),
        (200, Some(3)),
        "{}",
        String::from_utf8_lossy(&fired.body)
    );
    // Same semantics as token receivers: clamped at max 4.
    for want in [4, 4] {
        assert_eq!(
            http(Method::POST, &url, None, &[], None).await.json()["to"],
            want
        );
    }
    let unknown = format!(
        "{}/v1-webhooks/endpoint?key=nosuchkey&projectId=1a5",
        edge.base
    );
    assert_eq!(
        http(Method::POST, &unknown, None, &[], None).await.status,
        403
    );
    let wrong_project = format!("{}/v1-webhooks/endpoint?key={key}&projectId=1a7", edge.base);
    assert_eq!(
        http(Method::POST, &wrong_project, None, &[], None)
            .await
            .status,
        403
    );

    let del = http(
        Method::DELETE,
        rec["links"]["self"].as_str().expect("self"),
        Some(ALICE),
        &[],
        None,
    )
    .await;
    assert_eq!(del.status, 204);
    assert_eq!(http(Method::POST, &url, None, &[], None).await.status, 403);
}

#[tokio::test]
async fn revocation_reaches_other_replicas_within_the_ttl() {
    let a = start_edge(T).await;
    let b = Opts {
        revocation_ttl: Duration::from_millis(700),
        ..Opts::default()
    }
    .start(a.sim.share())
    .await;
    let rec = create(&a, Some(ALICE), "1a5", &scale_body("shared", "1s1"))
        .await
        .json();
    let token_url = rec["url"].as_str().expect("url");
    let query = &token_url[token_url.find('?').expect("query")..];
    let via_b = format!("{}/v1-webhooks/endpoint{query}", b.base);
    assert_eq!(
        http(Method::POST, &via_b, None, &[], None).await.status,
        200,
        "b caches: exists"
    );
    assert_eq!(
        http(
            Method::DELETE,
            rec["links"]["self"].as_str().expect("self"),
            Some(ALICE),
            &[],
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        http(Method::POST, token_url, None, &[], None).await.status,
        403,
        "a: at once"
    );
    let revoked =
        eventually(|| async { http(Method::POST, &via_b, None, &[], None).await.status == 403 })
            .await;
    assert!(revoked, "b: once its cached answer expires");
}

#[tokio::test]
async fn behind_cattles_proxy() {
    let edge = Opts {
        behind_cattle_proxy: true,
        ..Opts::default()
    }
    .start(start_sim(Duration::ZERO).await)
    .await;
    let body = scale_body("proxied", "1s1").to_string();
    let url = format!("{}/v1-webhooks/receivers", edge.base);
    let h = |roles: &'static str| vec![("x-api-project-id", "1a5"), ("x-api-roles", roles)];
    let r = http(Method::POST, &url, None, &h("readonly"), Some(&body)).await;
    assert_eq!(r.status, 405);
    let r = http(Method::POST, &url, None, &h("owner"), Some(&body)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let rec = r.json();
    let list = http(Method::GET, &url, None, &h("readonly"), None).await;
    assert_eq!(
        ids(&list.json()),
        [rec["id"].as_str().expect("id").to_owned()]
    );
    let del_url = format!(
        "{}/v1-webhooks/receivers/{}",
        edge.base,
        rec["id"].as_str().expect("id")
    );
    assert_eq!(
        http(Method::DELETE, &del_url, None, &h("v1-restricted"), None)
            .await
            .status,
        405
    );
    let mismatch = format!("{url}?projectId=1a7");
    assert_eq!(
        http(Method::GET, &mismatch, None, &h("owner"), None)
            .await
            .status,
        403
    );
    assert_eq!(
        http(Method::DELETE, &del_url, None, &h("member"), None)
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn schemas_and_version_root() {
    let edge = start_edge(T).await;
    let r = http(
        Method::GET,
        &format!("{}/v1-webhooks/schemas?limit=-1&projectId=1a5", edge.base),
        None,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["x-api-schemas"],
        format!("{}/v1-webhooks/schemas", edge.base).as_str()
    );
    let doc = r.json();
    let find = |id: &str| {
        doc["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id}"))
    };
    let receiver = find("receiver");
    assert_eq!(
        receiver["links"]["collection"],
        format!("{}/v1-webhooks/receivers", edge.base)
    );
    assert_eq!(receiver["collectionMethods"], json!(["GET", "POST"]));
    assert_eq!(receiver["resourceMethods"], json!(["GET", "DELETE"]));
    assert!(receiver["resourceFields"]["name"].is_object());
    assert!(find("scaleService")["resourceFields"]["serviceId"].is_object());
    assert_eq!(find("scaleService")["resourceFields"]["min"]["default"], 1);
    assert_eq!(
        find("scaleService")["resourceFields"]["max"]["default"],
        100
    );
    let host = find("scaleHost");
    assert!(
        host["resourceFields"]["hostSelector"].is_object()
            && host["resourceFields"]["hostTemplateId"].is_object()
    );
    // The 1.6 UI reads these, case-insensitively by id.
    let up = get(
        &format!("{}/v1-webhooks/schemas/serviceupgrade", edge.base),
        ALICE,
    )
    .await
    .json();
    let f = &up["resourceFields"];
    assert_eq!(f["payloadFormat"]["default"], "dockerhub");
    assert!(f["payloadFormat"]["options"]
        .as_array()
        .expect("options")
        .contains(&json!("alicloud")));
    assert_eq!(
        f["addressType"]["options"],
        json!(["registry", "registry-internal", "registry-vpc"])
    );
    assert_eq!(f["addressType"]["default"], "registry");
    assert_eq!(
        (
            f["batchSize"]["default"].as_i64(),
            f["intervalMillis"]["default"].as_i64(),
            f["startFirst"]["default"].as_bool()
        ),
        (Some(1), Some(2), Some(false))
    );
    assert!(f["serviceSelector"].is_object());
    assert_eq!(
        get(&format!("{}/v1-webhooks/schemas/nope", edge.base), ALICE)
            .await
            .status,
        404
    );

    let root = http(
        Method::GET,
        &format!("{}/v1-webhooks?projectId=1a5", edge.base),
        None,
        &[],
        None,
    )
    .await
    .json();
    assert_eq!(root["type"], "apiVersion");
    assert_eq!(
        root["links"]["receivers"],
        format!("{}/v1-webhooks/receivers?projectId=1a5", edge.base)
    );
    // X-Forwarded-* are not trusted unless told to: a stranger cannot point links (or a
    // stored trigger URL) at a host of their choosing.
    let forged = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
    ];
    let fwd = http(
        Method::GET,
        &format!("{}/v1-webhooks", edge.base),
        None,
        &forged,
        None,
    )
    .await
    .json();
    assert_eq!(
        fwd["links"]["schemas"],
        format!("{}/v1-webhooks/schemas", edge.base)
    );
    let made = http(
        Method::POST,
        &receivers(&edge, "1a5"),
        Some(ALICE),
        &forged,
        Some(&scale_body("forged-host", "1s1").to_string()),
    )
    .await
    .json();
    assert!(
        made["url"]
            .as_str()
            .is_some_and(|u| u.starts_with(&edge.base)),
        "{made}"
    );
    // Behind a TLS-terminating proxy you control, the links follow X-Forwarded-*.
    let trusting = Opts {
        trust_forwarded_headers: true,
        ..Opts::default()
    }
    .start(edge.sim.share())
    .await;
    let fwd = http(
        Method::GET,
        &format!("{}/v1-webhooks", trusting.base),
        None,
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "rancher.example.com"),
        ],
        None,
    )
    .await
    .json();
    assert_eq!(
        fwd["links"]["schemas"],
        "https://rancher.example.com/v1-webhooks/schemas"
    );
}

#[tokio::test]
async fn oversized_configs_are_refused_cleanly() {
    let edge = start_edge(T).await;
    let long = "v".repeat(300);
    let body = json!({"name": "big", "driver": "serviceUpgrade", "serviceUpgradeConfig": {"serviceSelector": {"app": long}, "tag": "latest", "batchSize": 1, "intervalMillis": 2}});
    let r = create(&edge, Some(ALICE), "1a5", &body).await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["message"]
        .as_str()
        .is_some_and(|m| m.contains("cannot be sealed")));
    assert!(get(&receivers(&edge, "1a5"), ALICE).await.json()["data"]
        .as_array()
        .is_some_and(Vec::is_empty));
}

#[tokio::test]
async fn the_web_uis_look_ups_see_what_the_callers_key_sees() {
    let edge = start_edge(Duration::from_secs(5)).await;
    let names = |v: Value| -> Vec<String> {
        v["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|x| x["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let at = |path: &str| format!("{}/v1-webhooks/{path}", edge.base);
    assert_eq!(names(get(&at("projects"), ALICE).await.json()), ["1a5"]);
    assert_eq!(names(get(&at("projects"), BOB).await.json()), ["1a7"]);
    let services = get(&at("services?projectId=1a5"), ALICE).await.json();
    assert_eq!(services["resourceType"], "service");
    let web = services["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|s| s["id"] == "1s1")
        .cloned()
        .expect("1s1 is listed");
    assert_eq!(
        (web["name"].as_str(), web["scale"].as_i64()),
        (Some("web"), Some(2))
    );
    assert!(
        names(services).iter().all(|id| id != "1s6"),
        "1s6 is in 1a7"
    );
    assert_eq!(get(&at("services?projectId=1a7"), ALICE).await.status, 403);
    let templates = get(&at("hosttemplates?projectId=1a5"), ALICE).await;
    assert_eq!(templates.status, 200);
    assert_eq!(templates.json()["resourceType"], "hostTemplate");
    // No credentials: 401 and no Cattle call; read-only routes refuse writes.
    edge.clear_calls().await;
    let anon = http(Method::GET, &at("projects"), None, &[], None).await;
    assert_eq!(anon.status, 401);
    assert!(edge.called_paths().await.is_empty());
    let post = http(
        Method::POST,
        &at("services?projectId=1a5"),
        Some(ALICE),
        &[],
        Some("{}"),
    )
    .await;
    assert_eq!(post.status, 405);

    // Behind Cattle's proxy neither the look-ups nor the page are served: Rancher's UI is.
    let proxied = Opts {
        behind_cattle_proxy: true,
        ..Opts::default()
    }
    .start(edge.sim.share())
    .await;
    let h = [("x-api-project-id", "1a5"), ("x-api-roles", "owner")];
    let url = format!("{}/v1-webhooks/services?projectId=1a5", proxied.base);
    assert_eq!(http(Method::GET, &url, None, &h, None).await.status, 404);
    for base in [&proxied.base, proxied.public_base.as_ref().expect("public")] {
        let page = http(Method::GET, &format!("{base}/"), None, &[], None).await;
        assert_eq!(page.status, 404, "{base}");
    }
}

#[tokio::test]
async fn the_web_ui_is_served_with_a_strict_policy() {
    let edge = start_edge(Duration::from_secs(5)).await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let r = http(
            Method::GET,
            &format!("{}{path}", edge.base),
            None,
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{path}");
        let header = |name: &str| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert!(header("content-type").starts_with(kind), "{path}");
        let csp = header("content-security-policy");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
    }
    let page = http(Method::GET, &format!("{}/", edge.base), None, &[], None).await;
    let html = String::from_utf8_lossy(&page.body).to_string();
    // Rancher's wording, each input with a real label.
    for words in [
        "Access Key",
        "Secret Key",
        "Project",
        "Add Receiver",
        "Create",
        "Scale a Service",
        "Scale Hosts",
        "Upgrade a Service",
        "Forward a POST",
    ] {
        assert!(html.contains(words), "{words}");
    }
    let r = http(
        Method::POST,
        &format!("{}/", edge.base),
        None,
        &[],
        Some("x"),
    )
    .await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn trigger_urls_carry_a_route_for_load_balancers() {
    let edge = start_edge(Duration::from_secs(5)).await;
    let route_of = |url: &str| {
        url.split_once("&route=")
            .map(|(_, r)| r.to_owned())
            .expect("a route parameter")
    };
    let mut urls = Vec::new();
    for (name, service) in [("a", "1s1"), ("b", "1s1"), ("c", "1s2")] {
        let r = create(&edge, Some(ALICE), "1a5", &scale_body(name, service)).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        urls.push(r.json()["url"].as_str().expect("url").to_owned());
    }
    // One target, one route: both receivers of 1s1 land on the same replica.
    assert_eq!(route_of(&urls[0]), route_of(&urls[1]));
    assert_ne!(route_of(&urls[0]), route_of(&urls[2]));
    assert_eq!(route_of(&urls[0]).len(), 8);

    let post = |url: String| async move { http(Method::POST, &url, None, &[], None).await };
    assert_eq!(post(urls[0].clone()).await.status, 200);
    // Without the route (URLs minted before, or trimmed by hand) it still works.
    let bare = urls[0].split("&route=").next().expect("url").to_owned();
    assert_eq!(post(bare).await.status, 200);
    // Another receiver's route is refused: it would send the trigger to the wrong replica.
    let crossed = format!(
        "{}&route={}",
        urls[0].split("&route=").next().expect("url"),
        route_of(&urls[2])
    );
    let before = edge.scale_of("1a5", "1s1").await;
    let r = post(crossed).await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["fieldName"], "route");
    assert_eq!(edge.scale_of("1a5", "1s1").await, before);
    // A route that is not 8 hex characters is malformed.
    let r = post(format!(
        "{}&route=zz",
        urls[0].split("&route=").next().expect("url")
    ))
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_leaves_nothing_behind() {
    let edge = start_edge(Duration::from_millis(300)).await;
    // Cattle commits the record, but only after hookgate has stopped waiting.
    edge.fault(
        r#"{"pathPrefix": "/v2-beta/projects/1a5/genericobjects", "method": "POST", "latencyMs": 700}"#,
    )
    .await;
    let r = create(&edge, Some(ALICE), "1a5", &scale_body("slow", "1s1")).await;
    assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
    edge.clear_faults().await;
    // The record Cattle committed late is found by its key and removed...
    let named = |v: Value| {
        v["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|g| g["name"] == "slow" && g["removed"].is_null())
            .count()
    };
    let list = || async {
        get(
            &edge
                .sim
                .url("/v2-beta/projects/1a5/genericobjects?kind=webhookReceiver"),
            SERVICE,
        )
        .await
        .json()
    };
    let appeared = eventually(|| async { named(list().await) == 1 }).await;
    assert!(appeared, "Cattle committed the slow create");
    let removed = eventually(|| async { named(list().await) == 0 }).await;
    assert!(removed, "the record of the failed create was removed");
    // ... so the caller's retry, with the same name, succeeds.
    let r = create(&edge, Some(ALICE), "1a5", &scale_body("slow", "1s1")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}
