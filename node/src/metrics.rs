//! Prometheus metrics. Per-route handles are registered when a stage is compiled, so the
//! request path only bumps atomics: no label hashing, no allocation.

use metrics::{Counter, Histogram, counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

pub const REQUESTS: &str = "edgeway_requests_total";
pub const LATENCY: &str = "edgeway_request_duration_seconds";
pub const INTEGRATION_LATENCY: &str = "edgeway_integration_duration_seconds";
pub const THROTTLED: &str = "edgeway_throttled_total";
pub const QUOTA_EXCEEDED: &str = "edgeway_quota_exceeded_total";

const BUCKETS: [f64; 16] = [
    0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once; later nodes in the same process share it).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .expect("bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "another metrics recorder was installed first; /metrics will be empty"
                );
            }
            handle
        })
        .clone()
}

/// Keeps histograms from growing without bound between scrapes.
pub fn spawn_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

/// The series of one route of one stage.
pub struct RouteMetrics {
    by_class: [Counter; 5],
    latency: Histogram,
    integration_latency: Histogram,
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

impl RouteMetrics {
    pub fn new(api: &str, stage: &str, route: &str) -> RouteMetrics {
        let labels = [
            ("api", api.to_string()),
            ("stage", stage.to_string()),
            ("route", route.to_string()),
        ];
        let by_class = CLASSES.map(|class| {
            let mut l = labels.to_vec();
            l.push(("status_class", class.to_string()));
            counter!(REQUESTS, &l)
        });
        RouteMetrics {
            by_class,
            latency: histogram!(LATENCY, &labels),
            integration_latency: histogram!(INTEGRATION_LATENCY, &labels),
        }
    }

    /// Requests that matched no route of a known stage, or no stage at all.
    pub fn unrouted() -> &'static RouteMetrics {
        static UNROUTED: OnceLock<RouteMetrics> = OnceLock::new();
        UNROUTED.get_or_init(|| RouteMetrics::new("-", "-", "-"))
    }

    pub fn record(&self, status: u16, total: Duration, integration: Option<Duration>) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].increment(1);
        self.latency.record(total.as_secs_f64());
        if let Some(d) = integration {
            self.integration_latency.record(d.as_secs_f64());
        }
    }
}

pub const REQUESTS_BY_PROTOCOL: &str = "edgeway_requests_by_protocol_total";

/// Counts a request by the HTTP version it came over (`http1.1`, `h2`, `h3`).
pub fn protocol(version: http::Version) {
    static BY_VERSION: OnceLock<[Counter; 3]> = OnceLock::new();
    let counters = BY_VERSION.get_or_init(|| {
        ["http1.1", "h2", "h3"].map(|p| counter!(REQUESTS_BY_PROTOCOL, "protocol" => p))
    });
    let index = match version {
        http::Version::HTTP_2 => 1,
        http::Version::HTTP_3 => 2,
        _ => 0,
    };
    counters[index].increment(1);
}

/// A request refused by a throttle (`limit`: `key_route`, `key`, `route`, `stage`, `node`) or
/// by its key's quota (`quota`). Labels are bounded: configured APIs and stages, fixed kinds.
pub fn refused(api: &str, stage: &str, limit: &'static str) {
    let (api, stage) = (api.to_string(), stage.to_string());
    if limit == "quota" {
        counter!(QUOTA_EXCEEDED, "api" => api, "stage" => stage).increment(1);
    } else {
        counter!(THROTTLED, "api" => api, "stage" => stage, "limit" => limit).increment(1);
    }
}
