//! The per-route series: request count by status class, latency, integration latency,
//! throttle and quota refusals, and cache use, each labelled
//! `api`, `stage`, `route` (the route template) and `protocol`.
//!
//! A route keeps one set of handles per protocol, registered the first time a request of that
//! protocol (or that refusal kind, or that cache outcome) is seen. So a route never used over
//! HTTP/3 exports no `h3` series, and after the first request each series is one atomic bump:
//! the label strings are built once, at registration.

use super::{
    CACHE_COALESCED, CACHE_HITS, CACHE_MISSES, INTEGRATION_LATENCY, LATENCY, Protocol,
    QUOTA_EXCEEDED, REQUESTS, THROTTLED,
};
use crate::pipeline::throttle::LimitKind;
use metrics::{Counter, Histogram, counter, histogram};
use std::sync::OnceLock;
use std::time::Duration;

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// A limit kind's place in `Series::refused` (a match, so a new kind fails to compile here).
fn slot(kind: LimitKind) -> usize {
    match kind {
        LimitKind::KeyRoute => 0,
        LimitKind::Key => 1,
        LimitKind::Route => 2,
        LimitKind::Stage => 3,
        LimitKind::Node => 4,
        LimitKind::Quota => 5,
    }
}

/// How the stage cache took part in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// Answered from the cache.
    Hit,
    /// Went to the integration (an invalidation counts as a miss).
    Miss,
    /// Waited for another request of the same key and got its answer.
    Coalesced,
}

/// What one request did, as the per-route series count it.
#[derive(Debug, Default)]
pub struct Observed {
    pub status: u16,
    pub total: Duration,
    pub integration: Option<Duration>,
    pub refused: Option<LimitKind>,
    pub cache: Option<CacheUse>,
}

/// The series of one route of one stage.
pub struct RouteMetrics {
    api: String,
    stage: String,
    route: String,
    by_protocol: [OnceLock<Series>; 3],
}

/// One route's series for one protocol.
struct Series {
    labels: [(&'static str, String); 4],
    by_class: [Counter; 5],
    latency: Histogram,
    integration_latency: Histogram,
    refused: [OnceLock<Counter>; 6],
    cache: [OnceLock<Counter>; 3],
}

impl RouteMetrics {
    pub fn new(api: &str, stage: &str, route: &str) -> RouteMetrics {
        RouteMetrics {
            api: api.to_string(),
            stage: stage.to_string(),
            route: route.to_string(),
            by_protocol: Default::default(),
        }
    }

    /// Requests that matched no route of a known stage, or no stage at all.
    pub fn unrouted() -> &'static RouteMetrics {
        static UNROUTED: OnceLock<RouteMetrics> = OnceLock::new();
        UNROUTED.get_or_init(|| RouteMetrics::new("-", "-", "-"))
    }

    pub fn record(&self, protocol: Protocol, seen: &Observed) {
        let series = self.series(protocol);
        let class = usize::from(seen.status / 100).clamp(1, 5) - 1;
        series.by_class[class].increment(1);
        series.latency.record(seen.total.as_secs_f64());
        if let Some(d) = seen.integration {
            series.integration_latency.record(d.as_secs_f64());
        }
        if let Some(kind) = seen.refused {
            series.refused(kind).increment(1);
        }
        if let Some(used) = seen.cache {
            series.cache(used).increment(1);
        }
    }

    fn series(&self, protocol: Protocol) -> &Series {
        self.by_protocol[protocol as usize].get_or_init(|| {
            let labels = [
                ("api", self.api.clone()),
                ("stage", self.stage.clone()),
                ("route", self.route.clone()),
                ("protocol", protocol.as_str().to_string()),
            ];
            let by_class = CLASSES.map(|class| {
                let mut l = labels.to_vec();
                l.push(("status_class", class.to_string()));
                counter!(REQUESTS, &l)
            });
            Series {
                by_class,
                latency: histogram!(LATENCY, &labels),
                integration_latency: histogram!(INTEGRATION_LATENCY, &labels),
                refused: Default::default(),
                cache: Default::default(),
                labels,
            }
        })
    }
}

impl Series {
    fn refused(&self, kind: LimitKind) -> &Counter {
        self.refused[slot(kind)].get_or_init(|| {
            if kind == LimitKind::Quota {
                counter!(QUOTA_EXCEEDED, &self.labels)
            } else {
                let mut l = self.labels.to_vec();
                l.push(("limit", kind.as_str().to_string()));
                counter!(THROTTLED, &l)
            }
        })
    }

    fn cache(&self, used: CacheUse) -> &Counter {
        let name = match used {
            CacheUse::Hit => CACHE_HITS,
            CacheUse::Miss => CACHE_MISSES,
            CacheUse::Coalesced => CACHE_COALESCED,
        };
        self.cache[used as usize].get_or_init(|| counter!(name, &self.labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_appear_per_protocol_only_once_used() {
        // Handles registered before the recorder is installed would go nowhere.
        let handle = crate::metrics::install();
        let route = RouteMetrics::new("unit-route", "prod", "GET /x");
        let seen = Observed {
            status: 429,
            refused: Some(LimitKind::Stage),
            ..Observed::default()
        };
        route.record(Protocol::H2, &seen);
        route.record(Protocol::H2, &seen);
        let hit = Observed {
            status: 200,
            cache: Some(CacheUse::Hit),
            ..Observed::default()
        };
        route.record(Protocol::Http1, &hit);
        let text = handle.render();
        let line = |name: &str, extra: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with(name) && l.contains("api=\"unit-route\"") && l.contains(extra)
                })
                .map(|l| l.rsplit(' ').next().unwrap().to_string())
        };
        let h2 = "protocol=\"h2\"";
        assert_eq!(
            line(REQUESTS, &format!("{h2},status_class=\"4xx\"")).as_deref(),
            Some("2")
        );
        assert_eq!(line(THROTTLED, "limit=\"stage\"").as_deref(), Some("2"));
        assert_eq!(
            line(CACHE_HITS, "protocol=\"http1.1\"").as_deref(),
            Some("1")
        );
        assert_eq!(
            line(REQUESTS, "protocol=\"h3\""),
            None,
            "no h3 series unused"
        );
        assert_eq!(line(QUOTA_EXCEEDED, ""), None);
    }
}
