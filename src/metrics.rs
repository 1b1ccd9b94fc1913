//! Prometheus exposition (docs/serving.md): triggers by driver and outcome, Cattle call latency,
//! cache hits and misses. Label values come from closed sets (driver names, outcome names,
//! status classes, cache names), so cardinality is bounded; no label ever holds an id, a URL
//! or a token.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::thread::LocalKey;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TriggerLabels {
    driver: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpgradeLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

struct Metrics {
    registry: Registry,
    circuit_open: Gauge,
    circuit_opened: Counter,
    triggers: Family<TriggerLabels, Counter>,
    cattle_calls: Family<CallLabels, Histogram>,
    cache: Family<CacheLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    upgrades: Family<UpgradeLabels, Counter>,
    batch_steps: Histogram,
}

/// The process's metrics. A process-wide registry is the one global hookgate keeps: metrics
/// describe the process, and every component (client, caches, trigger path) reports to it.
fn metrics() -> &'static Arc<Metrics> {
    static M: OnceLock<Arc<Metrics>> = OnceLock::new();
    M.get_or_init(|| {
        let mut registry = Registry::with_prefix("hookgate");
        let triggers = Family::<TriggerLabels, Counter>::default();
        registry.register(
            "triggers",
            "Trigger requests by driver and outcome",
            triggers.clone(),
        );
        let cattle_calls = Family::<CallLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "cattle_call_duration_seconds",
            "Duration of calls to Cattle by result (2xx, 4xx, 5xx, timeout, error)",
            cattle_calls.clone(),
        );
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_lookups",
            "Cache look-ups by cache and result",
            cache.clone(),
        );
        let refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "trigger_refusals",
            "Triggers refused before any action, by reason (malformed, bad_signature, \
             unknown_key_id, expired, revoked, unknown_key)",
            refusals.clone(),
        );
        let upgrades = Family::<UpgradeLabels, Counter>::default();
        registry.register(
            "upgrades",
            "Background service upgrades (serviceUpgrade) by result (queued, finished, failed, \
             interrupted)",
            upgrades.clone(),
        );
        let batch_steps = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "scale_batch_steps",
            "Steps carried by each scale write to Cattle (group commit)",
            batch_steps.clone(),
        );
        let circuit_open = Gauge::default();
        registry.register(
            "cattle_circuit_open",
            "1 while calls to Cattle fail fast after repeated failures (probing it), else 0",
            circuit_open.clone(),
        );
        let circuit_opened = Counter::default();
        registry.register(
            "cattle_circuit_opened",
            "Times calls to Cattle started failing fast",
            circuit_opened.clone(),
        );
        registry.register(
            "log_lines_dropped",
            "Log lines dropped because stderr's reader fell behind (the queue was full)",
            LogDrops,
        );
        Arc::new(Metrics {
            registry,
            circuit_open,
            circuit_opened,
            batch_steps,
            triggers,
            cattle_calls,
            cache,
            refusals,
            upgrades,
        })
    })
}

/// The Cattle breaker opened (`true`) or closed.
pub fn circuit(open: bool) {
    let m = metrics();
    m.circuit_open.set(i64::from(open));
    if open {
        m.circuit_opened.inc();
    }
}

/// Counts one trigger. `driver` and `outcome` must come from closed sets of names.
pub fn count_trigger(driver: &'static str, outcome: &'static str) {
    thread_local! {
        static SEEN: Seen<TriggerLabels> = const { RefCell::new(Vec::new()) };
    }
    inc(
        &SEEN,
        &metrics().triggers,
        TriggerLabels { driver, outcome },
    );
}

/// The counters of a family this thread has already incremented, by label set.
/// `Family::get_or_create` hashes the labels and takes a lock on every call, and the trigger
/// path counts the same few label sets over and over; label sets are closed (a handful of
/// `&'static str`), so the list stays short and a scan of it is cheaper than the hash.
type Seen<L> = RefCell<Vec<(L, Counter)>>;

fn inc<L>(seen: &'static LocalKey<Seen<L>>, family: &Family<L, Counter>, labels: L)
where
    L: Clone + std::hash::Hash + Eq,
{
    seen.with_borrow_mut(|seen| {
        if let Some((_, c)) = seen.iter().find(|(l, _)| *l == labels) {
            c.inc();
            return;
        }
        // A clone shares the family's counter.
        let c = family.get_or_create(&labels).clone();
        c.inc();
        seen.push((labels, c));
    });
}

/// Records one Cattle call: its duration and how it ended (`2xx`, `4xx`, `5xx`, `other`,
/// `timeout`, `error`).
pub fn observe_cattle_call(elapsed: Duration, result: &'static str) {
    metrics()
        .cattle_calls
        .get_or_create(&CallLabels { result })
        .observe(elapsed.as_secs_f64());
}

pub fn count_cache(cache: &'static str, hit: bool) {
    thread_local! {
        static SEEN: Seen<CacheLabels> = const { RefCell::new(Vec::new()) };
    }
    let result = if hit { "hit" } else { "miss" };
    inc(&SEEN, &metrics().cache, CacheLabels { cache, result });
}

/// Records one scale write and how many triggers' steps it carried.
pub fn observe_batch(steps: usize) {
    metrics().batch_steps.observe(steps as f64);
}

/// Counts a background upgrade's result (`queued`, `finished`, `failed`, `interrupted`).
pub fn count_upgrade(result: &'static str) {
    metrics()
        .upgrades
        .get_or_create(&UpgradeLabels { result })
        .inc();
}

/// Counts a refused trigger.
pub fn count_refusal(reason: &'static str) {
    thread_local! {
        static SEEN: Seen<RefusalLabels> = const { RefCell::new(Vec::new()) };
    }
    inc(&SEEN, &metrics().refusals, RefusalLabels { reason });
}

/// Where the count of dropped log lines is read from (set once, by the log's writer).
static LOG_DROPS: OnceLock<Box<dyn Fn() -> u64 + Send + Sync>> = OnceLock::new();

/// Names the source of `hookgate_log_lines_dropped_total`; the first source set stays.
pub fn log_drops_from(source: impl Fn() -> u64 + Send + Sync + 'static) {
    let _ = LOG_DROPS.set(Box::new(source));
}

/// A counter read from the log's writer when scraped.
#[derive(Debug)]
struct LogDrops;

impl TypedMetric for LogDrops {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for LogDrops {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let n = LOG_DROPS.get().map_or(0, |f| f());
        ConstCounter::new(n).encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &metrics().registry);
    out
}

/// The metrics in Prometheus' classic text format (0.0.4), for scrapers and tools that do
/// not ask for OpenMetrics (`curl`, `promtool check metrics`): a counter's HELP and TYPE name
/// its samples' `_total` name, and OpenMetrics' `# UNIT` and `# EOF` lines are left out.
pub fn render_classic() -> String {
    classic(&render())
}

fn classic(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_remembered_per_thread_all_reach_the_exposition() {
        let sample = |text: &str| {
            text.lines()
                .find(|l| l.contains("reason=\"a test's own reason\""))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
        };
        for _ in 0..3 {
            count_refusal("a test's own reason");
        }
        std::thread::spawn(|| {
            count_refusal("a test's own reason");
            count_refusal("a test's own reason");
        })
        .join()
        .expect("thread");
        count_refusal("a test's own reason");
        assert_eq!(sample(&render()), Some(6));
        assert_eq!(sample(&render_classic()), Some(6));
    }

    #[test]
    fn the_classic_format_names_counters_by_their_samples() {
        let om = "# HELP hookgate_triggers Triggers.\n# TYPE hookgate_triggers counter\n\
                  hookgate_triggers_total{outcome=\"scaled\"} 1\n# HELP hookgate_d Durations.\n\
                  # TYPE hookgate_d histogram\n# UNIT hookgate_d seconds\nhookgate_d_count 0\n# EOF\n";
        assert_eq!(
            classic(om),
            "# HELP hookgate_triggers_total Triggers.\n# TYPE hookgate_triggers_total counter\n\
             hookgate_triggers_total{outcome=\"scaled\"} 1\n# HELP hookgate_d Durations.\n\
             # TYPE hookgate_d histogram\nhookgate_d_count 0\n"
        );
    }
}
