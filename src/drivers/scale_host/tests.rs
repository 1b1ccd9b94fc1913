use super::*;

fn host(id: &str, name: &str, driver: &str, state: &str, created: i64) -> Host {
    serde_json::from_value(json!({"id": id, "name": name, "hostname": format!("{name}.example"),
        "driver": driver, "state": state, "createdTS": created, "labels": {"pool": "workers"}}))
    .expect("host")
}

fn names(hosts: &[&Host]) -> Vec<String> {
    hosts.iter().map(|h| display_name(h).to_owned()).collect()
}

#[test]
fn new_names_continue_the_group() {
    let group = |hs: &[(&str, &str)]| -> Vec<Host> {
        hs.iter()
            .enumerate()
            .map(|(i, (n, d))| host(&format!("1h{i}"), n, d, "active", i as i64))
            .collect()
    };
    // (group as (name, driver), how many, the new names)
    #[rustfmt::skip]
    let cases: [(Vec<Host>, usize, Vec<&str>); 6] = [
        (group(&[("node01", "amazonec2"), ("node02", "amazonec2")]), 1, vec!["node03"]),
        (group(&[("node01", "amazonec2"), ("node02", "amazonec2")]), 2, vec!["node03", "node04"]),
        (group(&[("web", "digitalocean")]), 2, vec!["web2", "web3"]),
        (group(&[]), 2, vec!["scaledhost1", "scaledhost2"]),
        (group(&[("node9", "amazonec2"), ("node10", "amazonec2")]), 1, vec!["node11"]),
        // A custom host is never the base; the machine-driver one is.
        (group(&[("custom1", ""), ("worker007", "amazonec2")]), 1, vec!["worker008"]),
    ];
    for (g, n, want) in cases {
        assert_eq!(next_names(&g, &[], n), want, "{:?}", g.iter().map(display_name).collect::<Vec<_>>());
    }
    // A name another host of the project has is skipped.
    let g = group(&[("node01", "amazonec2"), ("node02", "amazonec2")]);
    assert_eq!(next_names(&g, &["node03".to_owned()], 2), ["node04", "node05"]);
}

#[test]
fn bad_hosts_go_first_then_by_the_delete_option() {
    let group = vec![
        host("1h1", "node01", "amazonec2", "active", 1),
        host("1h2", "node02", "amazonec2", "disconnected", 2),
        host("1h3", "node03", "amazonec2", "active", 3),
        host("1h4", "node04", "amazonec2", "active", 4),
    ];
    assert_eq!(
        names(&removal_order(&group, DeleteOption::MostRecent)),
        ["node02", "node04", "node03", "node01"]
    );
    assert_eq!(
        names(&removal_order(&group, DeleteOption::LeastRecent)),
        ["node02", "node01", "node03", "node04"]
    );
}

#[test]
fn the_group_is_every_selector_pair_without_error_hosts() {
    let c = ScaleHostConfig::new(
        Some([("Pool".to_owned(), "WORKERS".to_owned())].into()),
        None,
        Bounds {
            action: ScaleAction::Down,
            amount: 1,
            min: 1,
            max: 5,
            cooldown_seconds: 0,
            on_resolved: OnResolved::Ignore,
        },
        Some(DeleteOption::MostRecent),
    );
    let mut other = host("1h5", "db1", "amazonec2", "active", 5);
    other.labels = Some([("pool".to_owned(), "db".to_owned())].into());
    let hosts = vec![
        host("1h12", "node12", "amazonec2", "active", 12),
        host("1h2", "node02", "amazonec2", "error", 2),
        host("1h3", "node03", "amazonec2", "active", 3),
        host("1h4", "node04", "amazonec2", "reconnecting", 4),
        other,
    ];
    let group = members(&c, hosts, |id| id == "1h4");
    assert_eq!(
        group.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["1h3", "1h12"],
        "oldest first; error hosts, other labels and hosts being evacuated left out"
    );
    assert_eq!(id_number("1h12"), 12);
}
