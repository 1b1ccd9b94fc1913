use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pushed(registry: &str, repository: &str, tag: &str) -> Pushed {
    Pushed {
        registry: registry.into(),
        repository: repository.into(),
        tag: Some(tag.into()),
        digest: None,
    }
}

const DIGEST: &str = "sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917";

#[test]
fn every_sender_format_reads_its_fixture() {
    let hub = vec![pushed("docker.io", "acme/web", "stable")];
    let with_digest = |mut p: Pushed| {
        p.digest = Some(DIGEST.into());
        vec![p]
    };
    // (fixture, format, what it says was pushed)
    #[rustfmt::skip]
    let cases = [
        ("dockerhub-push.json", Format::Dockerhub, hub.clone()),
        ("dockerhub-push-float-epoch.json", Format::Dockerhub, hub.clone()),
        ("alibaba-push.json", Format::Alicloud { address: "registry" }, with_digest(pushed("registry.cn-hangzhou.aliyuncs.com", "acme/web", "stable"))),
        ("alibaba-push.json", Format::Alicloud { address: "registry-vpc" }, with_digest(pushed("registry-vpc.cn-hangzhou.aliyuncs.com", "acme/web", "stable"))),
        ("acr-push.json", Format::Azure, with_digest(pushed("acme.azurecr.io", "acme/web", "stable"))),
        ("quay-push.json", Format::Quay, vec![pushed("quay.io", "acme/web", "stable")]),
        ("harbor-push.json", Format::Harbor, with_digest(pushed("harbor.acme.example", "acme/web", "stable"))),
        ("distribution-push.json", Format::Registry, with_digest(pushed("registry.acme.example", "acme/web", "stable"))),
    ];
    for (file, format, want) in cases {
        assert_eq!(parse(&fixture(file), format), Ok(want), "{file}");
    }
}

#[test]
fn what_is_not_a_push_is_refused_clearly() {
    let cases: [(&[u8], Format); 7] = [
        (b"", Format::Dockerhub),
        (b"not json", Format::Dockerhub),
        (br#"{"push_data": {"tag": "x"}}"#, Format::Dockerhub),
        (br#"{"push_data": 7, "repository": []}"#, Format::Dockerhub),
        (br#"{"status": "firing", "alerts": []}"#, Format::Quay),
        (br#"{"events": [{"action": "pull", "target": {"repository": "a", "tag": "b"}, "request": {"host": "r"}}]}"#, Format::Registry),
        (br#"{"type": "DELETE_ARTIFACT", "event_data": {}}"#, Format::Harbor),
    ];
    for (body, format) in cases {
        let e = parse(body, format).expect_err(&String::from_utf8_lossy(body));
        assert!(!e.to_string().is_empty());
    }
    // Another format's payload is not mistaken for this one.
    assert!(parse(&fixture("dockerhub-push.json"), Format::Azure).is_err());
    assert!(parse(&fixture("acr-push.json"), Format::Dockerhub).is_err());
}

#[test]
fn image_references_compare_as_registries_mean_them() {
    let repo = |s: &str| ImageRef::parse(s).expect(s).repository();
    let hub_web = ("docker.io".to_owned(), "acme/web".to_owned());
    for same in [
        "docker:acme/web:1.0",
        "acme/web",
        "docker.io/acme/web:2",
        "index.docker.io/acme/web:latest",
        "docker:ACME/Web:1.0",
        "acme/web@sha256:abc",
    ] {
        assert_eq!(repo(same), hub_web, "{same}");
    }
    assert_eq!(
        repo("nginx:1.25"),
        ("docker.io".into(), "library/nginx".into())
    );
    assert_eq!(repo("library/nginx"), repo("nginx"));
    assert_eq!(
        repo("registry.acme.example:5000/acme/web:1"),
        ("registry.acme.example:5000".into(), "acme/web".into())
    );
    assert_ne!(repo("quay.io/acme/web"), hub_web);
    assert_eq!(
        pushed("index.docker.io", "library/nginx", "x").repository(),
        repo("nginx")
    );
    let r =
        ImageRef::parse("docker:registry.acme.example:5000/acme/web:1.0@sha256:1").expect("ref");
    assert_eq!(r.tag, Some("1.0"));
    assert_eq!(
        r.with_tag("stable"),
        "docker:registry.acme.example:5000/acme/web:stable"
    );
    assert_eq!(
        ImageRef::parse("docker:acme/web:1.0").map(|r| r.with_tag("stable")),
        Some("docker:acme/web:stable".into())
    );
    for bad in ["", "docker:", "acme/web:"] {
        assert_eq!(ImageRef::parse(bad), None, "{bad}");
    }
}

#[test]
fn globs_match_tags_and_stay_cheap() {
    for (p, t, want) in [
        ("stable", "stable", true),
        ("v1.*", "v1.2.3", true),
        ("v1.*", "v2.0", false),
        ("*-rc?", "1.0-rc1", true),
        ("*-rc?", "1.0-rc10", false),
        ("*", "", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
    ] {
        assert_eq!(glob(p, t), want, "{p} {t}");
    }
    let evil = "*a".repeat(60) + "b";
    assert!(!glob(&evil, &"a".repeat(128)));
}
