//! What a running node takes from a changed config file (SIGHUP), and what waits for a restart.
//!
//! Live: the default certificate (the `public.tls` files, read again even when their paths stay
//! the same, since rotation usually replaces the files), `[limits]` except `limits.redis`, and
//! `access_log.destination`. Everything else is bound at start into a socket, a thread, a
//! cluster identity, a Redis client or a backend pool, so a change there is named in a warning
//! and left for a restart rather than applied halfway.

use super::{Limits, NodeConfig};
use arc_swap::ArcSwap;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The `[limits]` in effect. Listeners read it per connection (header size, header and
/// handshake timeouts), the gateway per request (body size, node-wide throttle), shutdown when
/// it starts (grace period); a reload stores a new value and nothing waits on it.
pub type LiveLimits = Arc<ArcSwap<Limits>>;

pub fn live_limits(limits: &Limits) -> LiveLimits {
    Arc::new(ArcSwap::from_pointee(limits.clone()))
}

/// A new file held against the running config.
#[derive(Debug)]
pub struct ReloadPlan {
    /// The config in effect after the reload: the running one with the new file's live values.
    pub next: NodeConfig,
    /// Changed fields that take effect only after a restart, dotted (`public.listen`), sorted.
    pub restart_needed: Vec<String>,
}

impl NodeConfig {
    /// Splits `new` (already validated) into what applies now and what needs a restart.
    pub fn plan_reload(&self, new: &NodeConfig) -> ReloadPlan {
        let mut next = self.clone();
        // The Redis limiter's client and scripts are built at start; its settings wait.
        next.limits = Limits {
            redis: self.limits.redis.clone(),
            ..new.limits.clone()
        };
        // Turning TLS on or off changes what the listener speaks; only the files are live.
        if self.public.tls.is_some() && new.public.tls.is_some() {
            next.public.tls = new.public.tls.clone();
        }
        next.access_log.destination = new.access_log.destination.clone();
        // Compared as data rather than field by field, so a field added to the config later
        // counts as needing a restart until it is made live above: the safe default.
        let mut restart_needed = Vec::new();
        differing(
            String::new(),
            &as_data(&next),
            &as_data(new),
            &mut restart_needed,
        );
        ReloadPlan {
            next,
            restart_needed,
        }
    }
}

fn as_data(config: &NodeConfig) -> Value {
    // Strings, numbers, addresses and paths that came from TOML (so valid UTF-8): serializing
    // them cannot fail, and if it ever did both sides would compare as null.
    serde_json::to_value(config).unwrap_or(Value::Null)
}

/// Pushes the dotted name of every leaf where `old` and `new` differ. A section present on one
/// side only (`[cluster]` added) is reported as the section.
fn differing(field: String, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let name = if field.is_empty() {
                    key.clone()
                } else {
                    format!("{field}.{key}")
                };
                let (a, b) = (a.get(key), b.get(key));
                differing(
                    name,
                    a.unwrap_or(&Value::Null),
                    b.unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if old != new => out.push(field),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        [node]
        id = "n1"
        data_dir = "/var/lib/edgeway"
        [public]
        listen = "127.0.0.1:8443"
        tls = { cert = "a.pem", key = "a.key" }
        [admin]
        token = "0123456789abcdef"
        [limits]
        max_body_bytes = 1000
        [limits.redis]
        url = "redis://127.0.0.1:6379"
    "#;

    fn config(text: &str) -> NodeConfig {
        let config: NodeConfig = toml::from_str(text).unwrap();
        config.validate().unwrap();
        config
    }

    fn changed(from: &str, to: &str) -> NodeConfig {
        config(&BASE.replacen(from, to, 1))
    }

    #[test]
    fn live_values_apply_and_need_no_restart() {
        let running = config(BASE);
        let new = changed(
            "max_body_bytes = 1000",
            "max_body_bytes = 10\nnode_rate = 5.0",
        );
        let new = NodeConfig {
            public: crate::config::PublicListener {
                tls: Some(crate::config::TlsFiles {
                    cert: "b.pem".into(),
                    key: "b.key".into(),
                }),
                ..new.public
            },
            access_log: crate::access_log::AccessLogConfig {
                destination: "/var/log/edgeway.log".into(),
                ..new.access_log
            },
            ..new
        };
        let plan = running.plan_reload(&new);
        assert!(plan.restart_needed.is_empty(), "{:?}", plan.restart_needed);
        assert_eq!(plan.next.limits.max_body_bytes, 10);
        assert_eq!(plan.next.limits.node_rate, 5.0);
        assert_eq!(plan.next.public.tls.unwrap().cert.to_str(), Some("b.pem"));
        assert_eq!(plan.next.access_log.destination, "/var/log/edgeway.log");
    }

    #[test]
    fn other_changes_are_named_and_kept_as_they_run() {
        let running = config(BASE);
        let cases = [
            ("id = \"n1\"", "id = \"n2\"", "node.id"),
            (
                "data_dir = \"/var/lib/edgeway\"",
                "data_dir = \"/d\"",
                "node.data_dir",
            ),
            (
                "listen = \"127.0.0.1:8443\"",
                "listen = \"127.0.0.1:9443\"",
                "public.listen",
            ),
            (
                "tls = { cert = \"a.pem\", key = \"a.key\" }",
                "",
                "public.tls",
            ),
            ("6379", "6380", "limits.redis.url"),
            (
                "[admin]",
                "[access_log]\nqueue = 5\n[admin]",
                "access_log.queue",
            ),
            (
                "[admin]",
                "[admin]\nlisten = \"127.0.0.1:1\"",
                "admin.listen",
            ),
        ];
        for (from, to, field) in cases {
            let plan = running.plan_reload(&changed(from, to));
            assert_eq!(plan.restart_needed, [field], "{from} -> {to}");
            let (was, now) = (as_data(&running), as_data(&plan.next));
            assert_eq!(was, now, "{field} must keep its running value");
        }
    }

    #[test]
    fn an_added_section_is_named_as_the_section() {
        let running = config(BASE);
        let cluster = r#"
            [cluster]
            id = "c"
            gossip = "127.0.0.1:7000"
            peer = "127.0.0.1:7001"
            ca = "ca.pem"
            cert = "n1.pem"
            key = "n1.key"
        "#;
        let plan = running.plan_reload(&config(&format!("{BASE}{cluster}")));
        assert_eq!(plan.restart_needed, ["cluster"]);
    }
}
