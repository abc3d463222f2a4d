//! `[limits.redis]`: where the cluster-wide limiter keeps its buckets, and timings tuned for the
//! request path rather than the Redis client's defaults (500 ms responses, 16 retries).

use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// One server: `redis://host:port[/db]`.
    #[serde(default)]
    pub url: Option<String>,
    /// Or the nodes of a Redis Cluster (any reachable subset; the rest is discovered).
    #[serde(default)]
    pub cluster: Vec<String>,
    /// Connecting (and reconnecting) to a server.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// One lease call. Leases are asked for in the background, so this bounds how long a
    /// slow Redis can hold a lease back, not a request.
    #[serde(default = "default_response_timeout")]
    pub response_timeout_ms: u64,
    /// Retries of a failed call by the client before the limiter counts a failure.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The longest a request without local tokens waits for a lease before it is decided
    /// without Redis (its node's share of the limit).
    #[serde(default = "default_lease_wait")]
    pub lease_wait_ms: u64,
    /// A lease holds about this much of a key's traffic on this node (rate × interval).
    #[serde(default = "default_refill_interval")]
    pub refill_interval_ms: u64,
    /// Tokens a node has not used within this time go back to Redis.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl_ms: u64,
    /// While Redis is unreachable: how often it is tried again.
    #[serde(default = "default_probe_interval")]
    pub probe_interval_ms: u64,
    /// Prefix of every Redis key this node writes.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
}

fn default_connect_timeout() -> u64 {
    200
}
fn default_response_timeout() -> u64 {
    100
}
fn default_retries() -> u32 {
    1
}
fn default_lease_wait() -> u64 {
    5
}
fn default_refill_interval() -> u64 {
    100
}
fn default_lease_ttl() -> u64 {
    2_000
}
fn default_probe_interval() -> u64 {
    500
}
fn default_prefix() -> String {
    "ew".into()
}

impl RedisSettings {
    /// A single server at `url` with every timing at its default.
    pub fn server(url: &str) -> RedisSettings {
        let mut settings: RedisSettings = toml::from_str("").expect("every field has a default");
        settings.url = Some(url.to_string());
        settings
    }

    /// A Redis Cluster reached through `nodes`, every timing at its default.
    pub fn cluster(nodes: Vec<String>) -> RedisSettings {
        let mut settings = RedisSettings::server("");
        settings.url = None;
        settings.cluster = nodes;
        settings
    }

    /// Checks the section; errors name the field (`limits.redis.url`, ...).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let url_ok = |u: &str| u.starts_with("redis://") || u.starts_with("rediss://");
        match (&self.url, self.cluster.is_empty()) {
            (Some(_), false) => {
                return Err(("limits.redis", "set url or cluster, not both".into()));
            }
            (None, true) => return Err(("limits.redis", "needs url or cluster".into())),
            (Some(u), true) if !url_ok(u) => {
                return Err(("limits.redis.url", format!("{u:?} is not a redis:// URL")));
            }
            _ => {}
        }
        if let Some(bad) = self.cluster.iter().find(|u| !url_ok(u)) {
            return Err((
                "limits.redis.cluster",
                format!("{bad:?} is not a redis:// URL"),
            ));
        }
        let positive: [(&'static str, u64); 6] = [
            ("limits.redis.connect_timeout_ms", self.connect_timeout_ms),
            ("limits.redis.response_timeout_ms", self.response_timeout_ms),
            ("limits.redis.lease_wait_ms", self.lease_wait_ms),
            ("limits.redis.refill_interval_ms", self.refill_interval_ms),
            ("limits.redis.lease_ttl_ms", self.lease_ttl_ms),
            ("limits.redis.probe_interval_ms", self.probe_interval_ms),
        ];
        for (field, value) in positive {
            if value == 0 || value > 60_000 {
                return Err((field, "must be between 1 and 60000".into()));
            }
        }
        if self.lease_ttl_ms < self.refill_interval_ms {
            return Err((
                "limits.redis.lease_ttl_ms",
                "must be >= refill_interval_ms".into(),
            ));
        }
        if self.retries > 10 {
            return Err(("limits.redis.retries", "must be <= 10".into()));
        }
        let prefix_ok = !self.key_prefix.is_empty()
            && self.key_prefix.len() <= 32
            && self
                .key_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b));
        if !prefix_ok {
            return Err((
                "limits.redis.key_prefix",
                "must be 1-32 characters of [A-Za-z0-9-_:.]".into(),
            ));
        }
        Ok(())
    }

    pub fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(), String> {
        let s: RedisSettings = toml::from_str(text).map_err(|e| e.to_string())?;
        s.check().map_err(|(f, m)| format!("{f}: {m}"))
    }

    #[test]
    fn a_url_or_a_cluster_with_request_path_timings() {
        assert_eq!(parse("url = \"redis://127.0.0.1:6379\""), Ok(()));
        assert_eq!(
            parse("cluster = [\"redis://10.0.0.1:7000\", \"redis://10.0.0.2:7000\"]"),
            Ok(())
        );
        let s = RedisSettings::server("redis://x:1");
        assert_eq!(
            (s.response_timeout_ms, s.retries, s.lease_wait_ms),
            (100, 1, 5)
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("", "limits.redis: needs url or cluster"),
            (
                "url = \"redis://a:1\"\ncluster = [\"redis://b:1\"]",
                "limits.redis: set url or cluster",
            ),
            ("url = \"http://a:1\"", "limits.redis.url"),
            ("cluster = [\"a:1\"]", "limits.redis.cluster"),
            (
                "url = \"redis://a:1\"\nlease_wait_ms = 0",
                "limits.redis.lease_wait_ms: must be between 1 and 60000",
            ),
            (
                "url = \"redis://a:1\"\nlease_ttl_ms = 10",
                "limits.redis.lease_ttl_ms: must be >= refill_interval_ms",
            ),
            (
                "url = \"redis://a:1\"\nkey_prefix = \"a b\"",
                "limits.redis.key_prefix",
            ),
            (
                "url = \"redis://a:1\"\nrespons_timeout_ms = 1",
                "unknown field",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(expected), "{text:?} gave {err}");
        }
    }
}
