//! The trigger path's in-process cost without I/O: strict query parsing, token open, body
//! classification, policy decision and the clamp — everything a trigger does before it
//! calls Cattle. Reported beside `token/open` (benches/token.rs) to show what the rest adds.
//! Also the router, which every request passes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use hookgate::drivers::scale::target;
use hookgate::drivers::{DriverConfig, ScaleAction};
use hookgate::policy::{decide, Decision, Notification, ReceiverState};
use hookgate::router::route;
use hookgate::token::KeyRing;
use hookgate::trigger::{parse_query, Target};

mod common;
use common::{scale_claims, NOW};

fn decision(c: &mut Criterion) {
    let ring = KeyRing::new([("k1", vec![7u8; 32])]).expect("ring");
    let claims = scale_claims(60);
    let query = format!("token={}", ring.seal(&claims).expect("seal"));
    let firing = include_str!("../tests/fixtures/alertmanager-firing.json").as_bytes();
    let state = ReceiverState::default();

    let run = |body: &[u8]| {
        let q = parse_query(Some(black_box(query.as_str()))).expect("query");
        let Target::Token(token) = q.target else {
            unreachable!()
        };
        let claims = ring.open(token, NOW).expect("token");
        let note = Notification::parse(body).expect("notification");
        let DriverConfig::ScaleService(cfg) = &claims.config else {
            unreachable!()
        };
        match decide(&state, &note, cfg.on_resolved, cfg.cooldown_seconds, NOW) {
            Decision::Act => target(
                black_box(5),
                cfg.action == ScaleAction::Up,
                cfg.amount,
                cfg.min,
                cfg.max,
            ),
            _ => 0,
        }
    };
    let mut g = c.benchmark_group("trigger");
    g.bench_function("decision_empty_body", |b| b.iter(|| run(b"")));
    g.bench_function("decision_alertmanager_body", |b| b.iter(|| run(firing)));
    g.finish();
}

fn router(c: &mut Criterion) {
    let mut g = c.benchmark_group("router");
    g.bench_function("route", |b| {
        b.iter(|| {
            (
                route(black_box("/v1-webhooks/endpoint")),
                route(black_box("/v1-webhooks/receivers/1go12/")),
                route(black_box("/metrics")),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, decision, router);
criterion_main!(benches);
