//! End-to-end test harness for Edgeway: in-process nodes on 127.0.0.1:0, real backends, real
//! TLS with generated certificates, and HTTP/1.1, h2c and HTTP/2-over-TLS clients.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod backend;
pub mod certs;
pub mod client;
pub mod cluster;
pub mod h3;
pub mod memory;
pub mod node;
pub mod otlp;
pub mod redis;
pub mod relay;
pub mod websocket;

pub use admin::{AdminClient, doc};
pub use backend::{Backend, ResetBackend, closed_port};
pub use certs::{Leaf, TestCa};
pub use client::{Conn, Proto, Reply, get, request};
pub use node::{TestNode, api_host};
pub use redis::{RedisCluster, RedisServer};
pub use relay::DelayRelay;

/// Logs to the test output when `RUST_LOG` is set (once per process).
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// The sum of the samples in Prometheus text `metrics` whose line starts with `prefix` (a
/// name, or a name and `{`) and contains every one of `labels` (`name="value"`); 0 if none.
/// The recorder is process-wide, so tests pick labels only they produce.
pub fn metric_value(metrics: &str, prefix: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix) && labels.iter().all(|w| l.contains(w)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
