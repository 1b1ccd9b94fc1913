//! The Cattle client against the in-process simulator: typed operations, pagination,
//! credentials, HTTPS, and failures classified within the timeout.

use std::time::{Duration, Instant};

use hookgate::cattle::wire::{
    InServiceStrategy, LaunchConfig, NewExternalHostEvent, NewGenericObject, UpgradeRequest,
};
use hookgate::cattle::{Auth, Cattle, CattleConfig, CattleError};
use http::{HeaderValue, Method};
use serde_json::json;

use crate::support::*;

fn client(url: &str, timeout: Duration, ca: Option<&str>) -> Cattle {
    Cattle::new(&CattleConfig {
        url: url.to_owned(),
        access_key: "service".into(),
        secret_key: "service-secret".into(),
        timeout,
        connect_timeout: Duration::from_secs(2),
        extra_roots_pem: ca.map(|c| c.as_bytes().to_vec()),
    })
    .expect("client")
}

async fn calls(sim: &SimHandle) -> Vec<serde_json::Value> {
    let v = http(Method::GET, &sim.url("/_sim/calls"), None, &[], None)
        .await
        .json();
    v.as_array().expect("calls").clone()
}

#[tokio::test]
async fn services_read_update_and_list_all_pages() {
    let sim = start_sim(Duration::ZERO).await;
    let c = client(&format!("{}/v1", sim.base), Duration::from_secs(5), None);
    assert_eq!(c.api_root(), format!("{}/v2-beta", sim.base));

    let s = c
        .get_service(Auth::Service, "1a5", "1s1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!((s.scale, s.kind.as_deref()), (Some(2), Some("service")));
    assert_eq!(
        s.launch_config.and_then(|l| l.image_uuid).as_deref(),
        Some("docker:acme/web:1.0")
    );
    assert!(
        c.get_service(Auth::Service, "1a5", "1s6")
            .await
            .expect("get")
            .is_none(),
        "other project"
    );
    assert!(c
        .get_service(Auth::Service, "1a5", "../1s1")
        .await
        .expect("get")
        .is_none());

    let s = c
        .set_scale(Auth::Service, "1a5", "1s1", 4)
        .await
        .expect("scale");
    assert_eq!(s.scale, Some(4));
    match c.set_scale(Auth::Service, "1a5", "1s1", -1).await {
        Err(CattleError::Rejected {
            status: 422,
            code,
            field,
            ..
        }) => {
            assert_eq!(
                (code.as_str(), field.as_deref()),
                ("MinLimitExceeded", Some("scale"))
            );
        }
        other => panic!("expected a 422, got {other:?}"),
    }

    for i in 0..150 {
        let body = format!(r#"{{"name": "n{i}", "stackId": "1st2"}}"#);
        let r = http(
            Method::POST,
            &sim.url("/v2-beta/projects/1a7/services"),
            Some(SERVICE),
            &[],
            Some(&body),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    let all = c
        .list_services(Auth::Service, "1a7", &[])
        .await
        .expect("list");
    assert_eq!(all.len(), 151);
    let mut ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 151, "no page twice");
    let some = c
        .list_services(Auth::Service, "1a7", &[("name_prefix", "n14")])
        .await
        .expect("list");
    assert_eq!(some.len(), 11); // n14, n140..n149
}

#[tokio::test]
async fn upgrade_follows_the_actions_it_is_offered() {
    let sim = start_sim(Duration::ZERO).await;
    let c = client(
        &format!("{}/v2-beta", sim.base),
        Duration::from_secs(5),
        None,
    );
    let s = c
        .get_service(Auth::Service, "1a5", "1s1")
        .await
        .expect("get")
        .expect("exists");
    http(Method::DELETE, &sim.url("/_sim/calls"), None, &[], None).await;
    match c.finish_upgrade(Auth::Service, &s).await {
        Err(CattleError::ActionNotAvailable { action, id }) => {
            assert_eq!((action.as_str(), id.as_str()), ("finishupgrade", "1s1"))
        }
        other => panic!("expected a local refusal, got {other:?}"),
    }
    assert!(
        calls(&sim).await.is_empty(),
        "an unavailable action sends nothing"
    );

    let req = UpgradeRequest {
        in_service_strategy: InServiceStrategy {
            batch_size: 1,
            interval_millis: 2000,
            start_first: false,
            launch_config: Some(LaunchConfig {
                image_uuid: Some("docker:acme/web:2.0".into()),
                ..Default::default()
            }),
            secondary_launch_configs: None,
        },
    };
    let up = c
        .upgrade_service(Auth::Service, &s, &req)
        .await
        .expect("upgrade");
    assert_eq!(up.state.as_deref(), Some("upgrading"));
    let up = c
        .get_service(Auth::Service, "1a5", "1s1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(up.state.as_deref(), Some("upgraded"));
    let done = c.finish_upgrade(Auth::Service, &up).await.expect("finish");
    assert_eq!(done.state.as_deref(), Some("finishing-upgrade"));
    let s = c
        .get_service(Auth::Service, "1a5", "1s1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(s.state.as_deref(), Some("active"));
    assert_eq!(
        s.launch_config.and_then(|l| l.image_uuid).as_deref(),
        Some("docker:acme/web:2.0")
    );
}

#[tokio::test]
async fn generic_objects_hosts_templates_and_events() {
    let sim = start_sim(Duration::ZERO).await;
    let c = client(&sim.base, Duration::from_secs(5), None);
    let data = json!({"driver": "scaleService", "url": "", "config": {"serviceId": "1s1"}});
    let go = c
        .create_generic_object(
            Auth::Service,
            "1a5",
            &NewGenericObject {
                name: "h1",
                key: "abc",
                kind: "webhookReceiver",
                resource_data: &data,
            },
        )
        .await
        .expect("create");
    assert!(go.id.starts_with("1go"));
    let found = c
        .list_generic_objects(
            Auth::Service,
            "1a5",
            &[("key", "abc"), ("kind", "webhookReceiver")],
        )
        .await
        .expect("list");
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0]
            .resource_data
            .as_ref()
            .map(|d| d["config"]["serviceId"].clone()),
        Some(json!("1s1"))
    );
    assert!(c
        .list_generic_objects(Auth::Service, "1a7", &[("key", "abc")])
        .await
        .expect("list")
        .is_empty());
    let got = c
        .get_generic_object(Auth::Service, "1a5", &go.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.name.as_deref(), Some("h1"));
    c.delete_generic_object(Auth::Service, "1a5", &go.id)
        .await
        .expect("delete");
    assert!(c
        .list_generic_objects(Auth::Service, "1a5", &[("key", "abc")])
        .await
        .expect("list")
        .is_empty());
    assert!(matches!(
        c.delete_generic_object(Auth::Service, "1a5", "1go999")
            .await,
        Err(CattleError::Rejected { status: 404, .. })
    ));

    let hosts = c
        .list_hosts(
            Auth::Service,
            "1a5",
            &[("sort", "created"), ("order", "desc")],
        )
        .await
        .expect("hosts");
    let names: Vec<_> = hosts
        .iter()
        .map(|h| h.hostname.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["node02", "node01"]);
    let raw = c
        .get_host_raw(Auth::Service, "1a5", "1h1")
        .await
        .expect("raw")
        .expect("exists");
    assert_eq!(raw["hostname"], "node01");
    let t = c
        .get_host_template(Auth::Service, "1a5", "1ht1")
        .await
        .expect("template")
        .expect("exists");
    assert_eq!(t.driver.as_deref(), Some("amazonec2"));
    assert!(c
        .get_host_template(Auth::Service, "1a5", "1ht9")
        .await
        .expect("template")
        .is_none());
    let h = c
        .create_host(
            Auth::Service,
            "1a5",
            &json!({"hostname": "node03", "hostTemplateId": "1ht1"}),
        )
        .await
        .expect("create host");
    assert_eq!(h.host_template_id.as_deref(), Some("1ht1"));
    c.create_external_host_event(
        Auth::Service,
        "1a5",
        &NewExternalHostEvent {
            event_type: "host.evacuate",
            host_id: "1h1",
            delete_host: true,
        },
    )
    .await
    .expect("event");
    let left = c
        .list_hosts(Auth::Service, "1a5", &[])
        .await
        .expect("hosts");
    assert!(left.iter().all(|h| h.id != "1h1"));
}

#[tokio::test]
async fn forwarded_credentials_decide_access() {
    let sim = start_sim(Duration::ZERO).await;
    let c = client(&sim.base, Duration::from_secs(5), None);
    let alice = HeaderValue::from_str(&basic(ALICE)).expect("header");
    let nobody = HeaderValue::from_str(&basic(("alice", "nope"))).expect("header");
    c.check_project(Auth::Forward(&alice), "1a5")
        .await
        .expect("alice reaches 1a5");
    for (auth, project, want) in [(&alice, "1a7", 403), (&nobody, "1a5", 401)] {
        match c.check_project(Auth::Forward(auth), project).await {
            Err(e) => assert_eq!(e.status(), Some(want)),
            Ok(()) => panic!("{project} must be refused"),
        }
    }
    assert!(matches!(
        c.list_services(Auth::Forward(&alice), "1a7", &[]).await,
        Err(CattleError::Rejected { status: 403, .. })
    ));
    c.check_project(Auth::Service, "1a7")
        .await
        .expect("service account reaches 1a7");
}

#[tokio::test]
async fn https_cattle_with_a_private_ca() {
    let pki = test_pki("cattle");
    let sim = start_tls_sim(&pki).await;
    let c = client(
        &format!("{}/v1", sim.base),
        Duration::from_secs(5),
        Some(&pki.ca_pem),
    );
    let s = c
        .get_service(Auth::Service, "1a5", "1s1")
        .await
        .expect("get over TLS")
        .expect("exists");
    assert_eq!(s.name.as_deref(), Some("web"));
    assert!(
        s.links.self_.expect("self").starts_with("http"),
        "links are the server's"
    );
    // Without the CA the certificate is not trusted: unreachable, not a panic or a hang.
    let untrusting = client(&sim.base, Duration::from_secs(5), None);
    assert!(matches!(
        untrusting.get_service(Auth::Service, "1a5", "1s1").await,
        Err(CattleError::Unreachable(_))
    ));
}

#[tokio::test]
async fn faults_are_classified_within_the_timeout() {
    let sim = start_sim(Duration::ZERO).await;
    let timeout = Duration::from_millis(300);
    let c = client(&sim.base, timeout, None);
    let fault = |body: &'static str| {
        let url = sim.url("/_sim/faults");
        async move {
            http(Method::DELETE, &url, None, &[], None).await;
            assert_eq!(
                http(Method::POST, &url, None, &[], Some(body)).await.status,
                201
            );
        }
    };

    fault(r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "latencyMs": 3000}"#).await;
    let t = Instant::now();
    let r = c.get_service(Auth::Service, "1a5", "1s1").await;
    let took = t.elapsed();
    assert!(
        matches!(r, Err(CattleError::Timeout(d)) if d == timeout),
        "{r:?}"
    );
    assert!(
        took >= timeout,
        "gave up after {took:?}, before its timeout"
    );

    fault(r#"{"pathPrefix": "/v2-beta", "drop": true}"#).await;
    let r = c.get_service(Auth::Service, "1a5", "1s1").await;
    assert!(matches!(r, Err(CattleError::Unreachable(_))), "{r:?}");

    fault(r#"{"status": 503}"#).await;
    let r = c.set_scale(Auth::Service, "1a5", "1s1", 3).await;
    assert!(
        matches!(r, Err(CattleError::Upstream { status: 503, .. })),
        "{r:?}"
    );
    http(Method::DELETE, &sim.url("/_sim/faults"), None, &[], None).await;
    assert_eq!(
        c.get_service(Auth::Service, "1a5", "1s1")
            .await
            .expect("healthy again")
            .expect("exists")
            .scale,
        Some(2),
        "the 503 changed nothing"
    );

    // Nothing listening at all.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dead = client(&format!("http://127.0.0.1:{port}"), timeout, None);
    let r = dead.get_service(Auth::Service, "1a5", "1s1").await;
    assert!(matches!(r, Err(CattleError::Unreachable(_))), "{r:?}");
}

/// A Cattle that writes its links with another host name (as Cattle does when it knows
/// itself by a name other than `CATTLE_URL`'s), and counts what reaches the host it names.
#[tokio::test]
async fn credentials_never_leave_the_configured_cattle() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let evil = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let evil_addr = evil.local_addr().expect("addr");
    let evil_hits = Arc::new(AtomicUsize::new(0));
    let hits = evil_hits.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = evil.accept().await {
            hits.fetch_add(1, Ordering::SeqCst);
        }
    });
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let fake_addr = fake.local_addr().expect("addr");
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = fake.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: http::Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let pq = req
                                .uri()
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default();
                            log.lock()
                                .expect("log")
                                .push(format!("{} {pq}", req.method()));
                            let elsewhere = format!("http://{evil_addr}");
                            let body = match pq.as_str() {
                                "/v2-beta/projects/1a5/genericobjects" => {
                                    json!({"data": [{"id": "1go1"}],
                                "pagination": {"partial": true, "next": format!("{elsewhere}/v2-beta/projects/1a5/genericobjects?marker=m1")}})
                                }
                                "/v2-beta/projects/1a5/genericobjects?marker=m1" => {
                                    json!({"data": [{"id": "1go2"}], "pagination": {"partial": false}})
                                }
                                "/v2-beta/projects/1a5/services/1s1" => {
                                    json!({"id": "1s1", "state": "active", "actions": {
                                "upgrade": format!("{elsewhere}/v2-beta/projects/1a5/services/1s1/?action=upgrade"),
                                "finishupgrade": format!("{elsewhere}/steal?action=finishupgrade")}})
                                }
                                _ => json!({"id": "1s1", "state": "upgrading"}),
                            };
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from(body.to_string())),
                            ))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    let c = client(
        &format!("http://{fake_addr}/v1"),
        Duration::from_secs(5),
        None,
    );
    let all = c
        .list_generic_objects(Auth::Service, "1a5", &[])
        .await
        .expect("both pages, from the configured Cattle");
    assert_eq!(
        all.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        ["1go1", "1go2"]
    );
    let svc = c
        .get_service(Auth::Service, "1a5", "1s1")
        .await
        .expect("get")
        .expect("exists");
    let req = UpgradeRequest {
        in_service_strategy: InServiceStrategy {
            batch_size: 1,
            interval_millis: 2000,
            start_first: false,
            launch_config: Some(LaunchConfig::default()),
            secondary_launch_configs: None,
        },
    };
    c.upgrade_service(Auth::Service, &svc, &req)
        .await
        .expect("the action, posted to the configured Cattle");
    // A link with no API path in it is not followed at all.
    assert!(matches!(
        c.finish_upgrade(Auth::Service, &svc).await,
        Err(CattleError::ForeignLink)
    ));
    assert_eq!(
        evil_hits.load(Ordering::SeqCst),
        0,
        "nothing reached the other host"
    );
    let seen = seen.lock().expect("log").clone();
    assert!(
        seen.contains(&"POST /v2-beta/projects/1a5/services/1s1/?action=upgrade".to_owned()),
        "{seen:?}"
    );
}
