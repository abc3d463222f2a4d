//! `[tracing]` in the node config: where spans go, under which service name, how many.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TracingConfig {
    /// The collector's OTLP/HTTP base URL (`http://host:4318`; `/v1/traces` is added when the
    /// URL has no path), or a full traces URL. Unset: no spans are exported.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// Share of new traces (requests without a sampled-or-not `traceparent`) exported, 0 to 1.
    /// A caller's `traceparent` decides for its own trace (its sampled flag).
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
    /// One export request (connect, send, answer) may take this long.
    #[serde(default = "default_export_timeout_ms")]
    pub export_timeout_ms: u64,
    /// How long the exporter gathers spans into one batch after the first.
    #[serde(default = "default_batch_delay_ms")]
    pub batch_delay_ms: u64,
    /// Spans that may wait for the exporter; beyond that they are dropped.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn default_service_name() -> String {
    "edgeway".into()
}
fn default_sample_ratio() -> f64 {
    1.0
}
fn default_export_timeout_ms() -> u64 {
    10_000
}
fn default_batch_delay_ms() -> u64 {
    1_000
}
fn default_queue() -> usize {
    8_192
}

impl Default for TracingConfig {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl TracingConfig {
    /// The first invalid field and what is wrong with it.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(endpoint) = &self.otlp_endpoint {
            let uri: http::Uri = endpoint.parse().map_err(|e| {
                let message = format!("{endpoint:?} is not a URL: {e}");
                ("tracing.otlp_endpoint", message)
            })?;
            let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
            if !scheme_ok || uri.host().is_none() {
                let message = format!("{endpoint:?} is not an http:// or https:// URL");
                return Err(("tracing.otlp_endpoint", message));
            }
        }
        if self.service_name.trim().is_empty() {
            return Err(("tracing.service_name", "must not be empty".into()));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(("tracing.sample_ratio", "must be between 0 and 1".into()));
        }
        if self.export_timeout_ms == 0 {
            return Err(("tracing.export_timeout_ms", "must be >= 1".into()));
        }
        if self.batch_delay_ms > 60_000 {
            return Err(("tracing.batch_delay_ms", "must be <= 60000".into()));
        }
        if self.queue == 0 {
            return Err(("tracing.queue", "must be >= 1".into()));
        }
        Ok(())
    }

    /// Where spans are posted, when export is on.
    pub fn traces_url(&self) -> Option<String> {
        let endpoint = self.otlp_endpoint.as_deref()?.trim_end_matches('/');
        let has_path = endpoint
            .parse::<http::Uri>()
            .is_ok_and(|u| !matches!(u.path(), "" | "/"));
        Some(if has_path {
            endpoint.to_string()
        } else {
            format!("{endpoint}/v1/traces")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(endpoint: &str) -> TracingConfig {
        TracingConfig {
            otlp_endpoint: Some(endpoint.into()),
            ..TracingConfig::default()
        }
    }

    #[test]
    fn a_base_url_gets_the_traces_path_and_a_full_one_is_kept() {
        assert_eq!(TracingConfig::default().traces_url(), None);
        let base = with("http://127.0.0.1:4318").traces_url();
        assert_eq!(base.as_deref(), Some("http://127.0.0.1:4318/v1/traces"));
        let slash = with("http://collector:4318/").traces_url();
        assert_eq!(slash.as_deref(), Some("http://collector:4318/v1/traces"));
        let full = with("https://otel.example.com/api/traces").traces_url();
        assert_eq!(full.as_deref(), Some("https://otel.example.com/api/traces"));
    }

    #[test]
    fn bad_values_name_the_field() {
        for bad in ["", "127.0.0.1:4318", "ftp://x/", "http://"] {
            assert_eq!(
                with(bad).check().unwrap_err().0,
                "tracing.otlp_endpoint",
                "{bad}"
            );
        }
        let ratio = TracingConfig {
            sample_ratio: 1.5,
            ..TracingConfig::default()
        };
        assert_eq!(ratio.check().unwrap_err().0, "tracing.sample_ratio");
        assert!(with("http://127.0.0.1:4318").check().is_ok());
    }
}
