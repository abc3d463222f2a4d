//! Node configuration: one TOML file, validated at start (and on reload) with messages that name
//! the field.

mod cluster;
mod reload;

pub use cluster::ClusterSection;
pub use reload::{LiveLimits, ReloadPlan, live_limits};

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

fn invalid(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    #[serde(default)]
    pub node: NodeSection,
    #[serde(default)]
    pub public: PublicListener,
    #[serde(default)]
    pub admin: AdminListener,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub backends: Backends,
    /// Absent: the node runs alone.
    #[serde(default)]
    pub cluster: Option<ClusterSection>,
    #[serde(default)]
    pub private: PrivateListener,
    /// Where stages' access log lines go.
    #[serde(default)]
    pub access_log: crate::access_log::AccessLogConfig,
    /// Span export over OTLP (off unless `otlp_endpoint` is set).
    #[serde(default)]
    pub tracing: crate::otlp::TracingConfig,
}

/// `[private]`: the listener private APIs are served on (keep it on an internal network).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrivateListener {
    #[serde(default)]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// Unique within the cluster; written into every object version this node makes.
    #[serde(default = "default_node_id")]
    pub id: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// Where acknowledged writes are kept.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// API documents (JSON) applied at start when their API does not exist yet.
    #[serde(default)]
    pub bootstrap: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PublicListener {
    #[serde(default = "default_public_addr")]
    pub listen: SocketAddr,
    /// Default certificate; custom domains bring their own, chosen by SNI. Without it the
    /// listener speaks cleartext HTTP/1.1 and h2c.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// Threads serving this listener, each with its own event loop and backend connection
    /// pools; default: one per core.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Proxies (CIDRs) whose `X-Forwarded-For` names the real client for resource policies.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// HTTP/3 on the same port number over UDP (needs `tls`).
    #[serde(default)]
    pub http3: Http3Settings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Http3Settings {
    #[serde(default)]
    pub enabled: bool,
    /// A connection with no traffic for this long is closed.
    #[serde(default = "default_h3_idle")]
    pub max_idle_timeout_ms: u64,
    /// Requests in flight on one connection.
    #[serde(default = "default_h3_streams")]
    pub max_concurrent_streams: u32,
    /// Flow-control window of one request body, in bytes.
    #[serde(default = "default_h3_stream_window")]
    pub stream_receive_window: u32,
    /// Flow-control window of a whole connection, in bytes.
    #[serde(default = "default_h3_connection_window")]
    pub receive_window: u32,
    /// TCP answers carry `Alt-Svc: h3=":PORT"; ma=...` so clients find HTTP/3.
    #[serde(default = "yes")]
    pub advertise: bool,
    /// How long clients may remember the advertisement (`ma`), in seconds.
    #[serde(default = "default_alt_svc_max_age")]
    pub alt_svc_max_age_seconds: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminListener {
    #[serde(default = "default_admin_addr")]
    pub listen: SocketAddr,
    /// Bearer token for every admin call (at least 16 characters).
    #[serde(default)]
    pub token: Option<String>,
    /// Reads the token from a file instead (surrounding whitespace trimmed).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// `/health`, `/ready` and `/metrics` answer without the token.
    #[serde(default = "yes")]
    pub open_probes: bool,
}

/// `[limits]`. A reload replaces all of it but `redis` (see `reload`), so a field added here
/// must be read through [`LiveLimits`] at the time it applies, or be kept back there too.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    /// Request line + headers, HTTP/1.1; header list, HTTP/2. Larger requests get 431.
    #[serde(default = "default_max_header")]
    pub max_header_bytes: usize,
    #[serde(default = "default_header_timeout")]
    pub header_read_timeout_ms: u64,
    /// How long shutdown waits for in-flight requests.
    #[serde(default = "default_grace")]
    pub shutdown_grace_ms: u64,
    /// Node-wide token bucket over every API this node serves: requests per second...
    #[serde(default = "default_node_rate")]
    pub node_rate: f64,
    /// ...and the burst it absorbs at once.
    #[serde(default = "default_node_burst")]
    pub node_burst: u32,
    /// WebSocket connections without a message either way for this long are closed (1001).
    #[serde(default = "default_ws_idle")]
    pub websocket_idle_timeout_ms: u64,
    /// WebSocket connections are closed (1001) this long after their handshake.
    #[serde(default = "default_ws_max")]
    pub websocket_max_duration_ms: u64,
    /// Cluster-wide throttles and quotas in Redis; without it every limit is this node's.
    #[serde(default)]
    pub redis: Option<crate::pipeline::throttle::RedisSettings>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Backends {
    /// Extra CA certificates (PEM) trusted for https:// integrations, besides the public roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Idle pooled connections per backend host.
    #[serde(default = "default_pool")]
    pub pool_max_idle_per_host: usize,
}

fn yes() -> bool {
    true
}
fn default_node_id() -> String {
    "node-1".into()
}
fn default_region() -> String {
    "local".into()
}
fn default_data_dir() -> PathBuf {
    "edgeway-data".into()
}
fn default_public_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_admin_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9090))
}
fn default_max_body() -> u64 {
    10 * 1024 * 1024
}
fn default_max_header() -> usize {
    16 * 1024
}
fn default_header_timeout() -> u64 {
    10_000
}
fn default_grace() -> u64 {
    30_000
}
fn default_ws_idle() -> u64 {
    10 * 60 * 1000
}
fn default_ws_max() -> u64 {
    2 * 60 * 60 * 1000
}
fn default_node_rate() -> f64 {
    10_000.0
}
fn default_node_burst() -> u32 {
    5_000
}
fn default_pool() -> usize {
    256
}
fn default_h3_idle() -> u64 {
    30_000
}
fn default_h3_streams() -> u32 {
    100
}
fn default_h3_stream_window() -> u32 {
    1024 * 1024
}
fn default_h3_connection_window() -> u32 {
    8 * 1024 * 1024
}
fn default_alt_svc_max_age() -> u32 {
    86_400
}

macro_rules! default_from_serde {
    ($($t:ty),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                toml::from_str("").expect("every field has a default")
            }
        }
    )*};
}
default_from_serde!(
    NodeSection,
    PublicListener,
    Http3Settings,
    AdminListener,
    Limits,
    Backends
);

impl Default for NodeConfig {
    fn default() -> Self {
        toml::from_str("").expect("every section has a default")
    }
}

impl NodeConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let config: NodeConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The admin token, from `token` or `token_file`.
    pub fn admin_token(&self) -> Result<String, ConfigError> {
        let token = match (&self.admin.token, &self.admin.token_file) {
            (Some(_), Some(_)) => {
                return Err(invalid("admin.token", "set token or token_file, not both"));
            }
            (Some(t), None) => t.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?
                .trim()
                .to_string(),
            (None, None) => {
                return Err(invalid("admin.token", "is required (or admin.token_file)"));
            }
        };
        if token.len() < 16 {
            return Err(invalid("admin.token", "must be at least 16 characters"));
        }
        Ok(token)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        edgeway_shared::validate::check_id("node", "id", &self.node.id)
            .map_err(|e| invalid("node.id", e.message))?;
        if self.node.region.is_empty() {
            return Err(invalid("node.region", "must not be empty"));
        }
        self.admin_token()?;
        let l = &self.limits;
        if l.max_body_bytes == 0 {
            return Err(invalid("limits.max_body_bytes", "must be >= 1"));
        }
        if l.max_header_bytes < 8192 {
            return Err(invalid("limits.max_header_bytes", "must be >= 8192"));
        }
        if l.header_read_timeout_ms == 0 {
            return Err(invalid("limits.header_read_timeout_ms", "must be >= 1"));
        }
        if !(l.node_rate.is_finite() && l.node_rate > 0.0) {
            return Err(invalid("limits.node_rate", "must be a number > 0"));
        }
        if l.node_burst == 0 {
            return Err(invalid("limits.node_burst", "must be >= 1"));
        }
        if !(100..=default_ws_idle()).contains(&l.websocket_idle_timeout_ms) {
            let range = format!("must be between 100 and {}", default_ws_idle());
            return Err(invalid("limits.websocket_idle_timeout_ms", range));
        }
        if !(1_000..=default_ws_max()).contains(&l.websocket_max_duration_ms) {
            let range = format!("must be between 1000 and {}", default_ws_max());
            return Err(invalid("limits.websocket_max_duration_ms", range));
        }
        if let Some(redis) = &l.redis {
            redis
                .check()
                .map_err(|(field, message)| invalid(field, message))?;
        }
        for cidr in &self.public.trusted_proxies {
            cidr.parse::<edgeway_shared::cidr::Cidr>()
                .map_err(|m| invalid("public.trusted_proxies", m))?;
        }
        self.validate_http3()?;
        if self.backends.pool_max_idle_per_host == 0 {
            return Err(invalid("backends.pool_max_idle_per_host", "must be >= 1"));
        }
        if self.public.listen.port() != 0 && self.public.listen == self.admin.listen {
            return Err(invalid("admin.listen", "must differ from public.listen"));
        }
        if let Some(cluster) = &self.cluster {
            cluster.validate(&self.node.id)?;
        }
        if self.access_log.queue == 0 {
            return Err(invalid("access_log.queue", "must be >= 1"));
        }
        self.tracing
            .check()
            .map_err(|(field, message)| invalid(field, message))?;
        if self.access_log.destination.is_empty() {
            return Err(invalid(
                "access_log.destination",
                "must be stdout or a file path",
            ));
        }
        Ok(())
    }
}

impl NodeConfig {
    fn validate_http3(&self) -> Result<(), ConfigError> {
        let h3 = &self.public.http3;
        if !h3.enabled {
            return Ok(());
        }
        if self.public.tls.is_none() {
            return Err(invalid(
                "public.http3.enabled",
                "HTTP/3 needs TLS: set public.tls",
            ));
        }
        if !(1_000..=600_000).contains(&h3.max_idle_timeout_ms) {
            return Err(invalid(
                "public.http3.max_idle_timeout_ms",
                "must be between 1000 and 600000",
            ));
        }
        if !(1..=10_000).contains(&h3.max_concurrent_streams) {
            return Err(invalid(
                "public.http3.max_concurrent_streams",
                "must be between 1 and 10000",
            ));
        }
        if h3.stream_receive_window < 16 * 1024 {
            return Err(invalid(
                "public.http3.stream_receive_window",
                "must be >= 16384",
            ));
        }
        if h3.receive_window < h3.stream_receive_window {
            return Err(invalid(
                "public.http3.receive_window",
                "must be >= public.http3.stream_receive_window",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NodeConfig, ConfigError> {
        let config: NodeConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "t".into(),
            message: e.to_string(),
        })?;
        config.validate().map(|_| config)
    }

    #[test]
    fn a_minimal_file_gets_the_documented_defaults() {
        let config = parse("[admin]\ntoken = \"0123456789abcdef\"").unwrap();
        assert_eq!(config.public.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.limits.max_body_bytes, 10 * 1024 * 1024);
        assert_eq!(
            (config.limits.node_rate, config.limits.node_burst),
            (10_000.0, 5_000)
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("", "admin.token: is required"),
            (
                "[admin]\ntoken = \"short\"",
                "admin.token: must be at least 16",
            ),
            (
                "[admin]\ntoken = \"0123456789abcdef\"\n[limits]\nmax_body_bytes = 0",
                "limits.max_body_bytes",
            ),
            (
                "[node]\nid = \"Bad Id\"\n[admin]\ntoken = \"0123456789abcdef\"",
                "node.id",
            ),
            ("[admin]\ntokn = \"x\"", "unknown field `tokn`"),
            (
                "[admin]\ntoken = \"0123456789abcdef\"\n[limits]\nnode_rate = 0.0",
                "limits.node_rate: must be a number > 0",
            ),
            (
                "[admin]\ntoken = \"0123456789abcdef\"\n[limits]\nnode_burst = 0",
                "limits.node_burst: must be >= 1",
            ),
            (
                "[admin]\ntoken = \"0123456789abcdef\"\n[public.http3]\nenabled = true",
                "public.http3.enabled: HTTP/3 needs TLS",
            ),
            (
                "[admin]\ntoken = \"0123456789abcdef\"\n[tracing]\notlp_endpoint = \"127.0.0.1:4318\"",
                "tracing.otlp_endpoint: \"127.0.0.1:4318\" is not an http:// or https:// URL",
            ),
            (
                "[admin]\ntoken = \"0123456789abcdef\"\n[tracing]\nsample_ratio = 2.0",
                "tracing.sample_ratio: must be between 0 and 1",
            ),
            (
                "[admin]\ntoken = \"0123456789abcdef\"\n[limits.redis]\nurl = \"http://x:1\"",
                "limits.redis.url: \"http://x:1\" is not a redis:// URL",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?} gave {err}");
        }
    }
}
