//! Prometheus metrics. Per-route handles live with the compiled route and are registered the
//! first time a protocol uses them, so the request path only bumps atomics: no label hashing,
//! no allocation.

mod route;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

pub const REQUESTS: &str = "edgeway_requests_total";
pub const LATENCY: &str = "edgeway_request_duration_seconds";
pub const INTEGRATION_LATENCY: &str = "edgeway_integration_duration_seconds";
pub const THROTTLED: &str = "edgeway_throttled_total";
pub const QUOTA_EXCEEDED: &str = "edgeway_quota_exceeded_total";
pub const CACHE_HITS: &str = "edgeway_cache_hits_total";
pub const CACHE_MISSES: &str = "edgeway_cache_misses_total";
pub const CACHE_COALESCED: &str = "edgeway_cache_coalesced_total";

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

pub use route::{CacheUse, Observed, RouteMetrics};

/// The protocol a request came over: the `protocol` label of the per-route series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    H2,
    H3,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Http1, Protocol::H2, Protocol::H3];

    pub fn of(version: http::Version) -> Protocol {
        match version {
            http::Version::HTTP_2 => Protocol::H2,
            http::Version::HTTP_3 => Protocol::H3,
            // HTTP/1.0 is served by the HTTP/1.1 stack.
            _ => Protocol::Http1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1.1",
            Protocol::H2 => "h2",
            Protocol::H3 => "h3",
        }
    }
}
