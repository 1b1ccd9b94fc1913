use super::*;
use serde_json::json;

fn config(selector: &[(&str, &str)], tag: &str) -> ServiceUpgradeConfig {
    ServiceUpgradeConfig {
        service_selector: selector
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        tag: tag.into(),
        tag_pattern: None,
        payload_format: PayloadFormat::Dockerhub,
        address_type: AddressType::Registry,
        batch_size: 1,
        interval_millis: 2,
        start_first: false,
    }
}

fn service(id: &str, image: &str, labels: Value, state: &str) -> Service {
    serde_json::from_value(json!({"id": id, "name": id, "state": state,
        "launchConfig": {"imageUuid": image, "labels": labels}}))
    .expect("service")
}

fn push(repository: &str, tag: &str) -> Vec<Pushed> {
    vec![Pushed {
        registry: "docker.io".into(),
        repository: repository.into(),
        tag: Some(tag.into()),
        digest: None,
    }]
}

fn ids(plans: &[Plan]) -> Vec<&str> {
    plans.iter().map(|p| p.service_id.as_str()).collect()
}

fn reasons(skipped: &[Skip]) -> Vec<(&str, &str)> {
    skipped
        .iter()
        .map(|s| (s.service_id.as_str(), s.reason))
        .collect()
}

#[test]
fn every_selector_pair_tag_and_repository_must_match() {
    let c = config(&[("app", "web"), ("tier", "front")], "stable");
    let services = [
        service("1s1", "docker:acme/web:1.0", json!({"app": "web", "tier": "front"}), "active"),
        // Only one of the two labels: Rancher's master branch upgraded this; hookgate does not.
        service("1s2", "docker:acme/web:1.0", json!({"app": "web"}), "active"),
        // Same labels, another repository.
        service("1s3", "docker:acme/api:1.0", json!({"APP": "Web", "tier": "FRONT"}), "active"),
        // Same labels and repository, in a state that cannot take an upgrade.
        service("1s4", "docker:acme/web:1.0", json!({"app": "web", "tier": "front"}), "removing"),
        // Mid-upgrade: finished first, then upgraded.
        service("1s5", "docker:index.docker.io/acme/web:0.9", json!({"app": "web", "tier": "front", "x": "y"}), "upgraded"),
    ];
    let (plans, skipped) = plan(&c, &push("acme/web", "stable"), &services);
    assert_eq!(ids(&plans), ["1s1", "1s5"]);
    assert_eq!(plans[0].primary.as_deref(), Some("docker:acme/web:stable"));
    assert_eq!(
        plans[1].primary.as_deref(),
        Some("docker:index.docker.io/acme/web:stable")
    );
    assert_eq!(reasons(&skipped), [("1s3", "repository"), ("1s4", "state")]);

    // The wrong tag upgrades nothing and says so for every labelled service.
    let (plans, skipped) = plan(&c, &push("acme/web", "latest"), &services);
    assert!(plans.is_empty());
    assert!(skipped.iter().all(|s| s.reason == "tag"), "{skipped:?}");
    // ... unless the glob says otherwise.
    let globbed = ServiceUpgradeConfig {
        tag_pattern: Some("lat*".into()),
        ..c.clone()
    };
    assert_eq!(ids(&plan(&globbed, &push("acme/web", "latest"), &services).0), ["1s1", "1s5"]);
}

#[test]
fn sidekicks_match_on_their_own_and_aliases_never_stop_the_rest() {
    let c = config(&[("app", "")], "stable");
    let with_sidekick: Service = serde_json::from_value(json!({"id": "1s7", "name": "app",
        "state": "active",
        "launchConfig": {"imageUuid": "docker:acme/base:1", "labels": {"other": "x"}},
        "secondaryLaunchConfigs": [
            {"name": "web-sidekick", "imageUuid": "docker:acme/web:1", "labels": {"app": "anything"}},
            {"name": "log", "imageUuid": "docker:acme/log:1", "labels": {"app": "log"}}]}))
    .expect("service");
    let alias: Service =
        serde_json::from_value(json!({"id": "1s4", "name": "alias", "kind": "dnsService", "state": "active"}))
            .expect("alias");
    let (plans, skipped) = plan(&c, &push("acme/web", "stable"), &[alias.clone(), with_sidekick]);
    assert_eq!(ids(&plans), ["1s7"]);
    assert_eq!(plans[0].primary, None, "the primary's labels do not match");
    assert_eq!(
        plans[0].sidekicks,
        [("web-sidekick".to_owned(), "docker:acme/web:stable".to_owned())]
    );
    // An alias has no labels to match a non-empty selector; with an empty selector it is
    // listed, skipped for having no container.
    assert!(skipped.is_empty(), "{skipped:?}");
    let every = config(&[], "stable");
    let (_, skipped) = plan(&every, &push("acme/web", "stable"), &[alias]);
    assert_eq!(reasons(&skipped), [("1s4", "no launch config")]);
}

#[test]
fn configs_parse_encode_and_keep_older_tokens_readable() {
    let v = json!({"serviceSelector": {"app": "web"}, "tag": "stable", "tagPattern": "v1.*",
        "payloadFormat": "registry", "batchSize": 2, "intervalMillis": 5, "startFirst": true});
    let c = ServiceUpgrade::parse(&v, "1a5", Parse::Create).expect("valid");
    assert_eq!(c.payload_format, PayloadFormat::Registry);
    assert_eq!(
        ServiceUpgrade::parse(&Value::Object(ServiceUpgrade::to_json(&c)), "1a5", Parse::Create).ok(),
        Some(c.clone())
    );
    for (k, bad) in [("tagPattern", json!("v1 *")), ("payloadFormat", json!("distribution"))] {
        let mut v = v.clone();
        v[k] = bad;
        let e = ServiceUpgrade::parse(&v, "1a5", Parse::Create).expect_err(k);
        assert_eq!(e.parts().3, Some(k));
    }
    // Without a pattern the encoding is what tokens minted before the field carry.
    let plain = ServiceUpgradeConfig {
        tag_pattern: None,
        ..c.clone()
    };
    let mut old = Vec::new();
    ServiceUpgrade::encode(&plain, &mut Writer::new(&mut old));
    let mut r = Reader::new(&old);
    assert_eq!(ServiceUpgrade::decode(&mut r), Ok(plain));
    assert!(r.is_empty());
    // A trailing zero tag would be a second encoding of "no pattern": refused.
    old.push(0);
    assert!(ServiceUpgrade::decode(&mut Reader::new(&old)).is_err());
}

#[test]
fn unnamed_sidekicks_and_bad_pushed_tags_upgrade_nothing_else() {
    let c = ServiceUpgradeConfig {
        tag_pattern: Some("release-*".into()),
        ..config(&[("app", "web")], "stable")
    };
    // The primary (a database) must never get the web image because a nameless sidekick
    // matched; nor a sidekick that shares its name with another.
    let svc: Service = serde_json::from_value(json!({"id": "1s8", "name": "mixed", "state": "active",
        "launchConfig": {"imageUuid": "docker:acme/db:5.0", "labels": {"role": "db"}},
        "secondaryLaunchConfigs": [
            {"imageUuid": "docker:acme/web:1.0", "labels": {"app": "web"}},
            {"name": "s", "imageUuid": "docker:acme/web:1.0", "labels": {"app": "web"}},
            {"name": "s", "imageUuid": "docker:acme/web:1.0", "labels": {"role": "cache"}}]}))
    .expect("service");
    let (plans, skipped) = plan(&c, &push("acme/web", "stable"), std::slice::from_ref(&svc));
    assert!(plans.is_empty(), "{plans:?}");
    assert_eq!(reasons(&skipped), [("1s8", "sidekick name")]);
    // A pushed "tag" that is no Docker tag matches nothing, glob or not.
    let web = service("1s1", "docker:acme/web:1.0", json!({"app": "web"}), "active");
    for bad in ["release-x/../../evil", "release-1@sha256:0", "release- ;rm", ""] {
        let (plans, skipped) = plan(&c, &push("acme/web", bad), std::slice::from_ref(&web));
        assert!(plans.is_empty(), "{bad:?}");
        assert_eq!(reasons(&skipped), [("1s1", "tag")], "{bad:?}");
    }
    assert_eq!(ids(&plan(&c, &push("acme/web", "release-7"), &[web]).0), ["1s1"]);
}
