//! Optional export of one span per request (and a child span per integration call) to an
//! OpenTelemetry collector over OTLP/HTTP (protobuf), off unless `[tracing] otlp_endpoint` is
//! set.
//!
//! The request path builds a span only for a sampled request and hands it to a bounded queue
//! with `try_send`: a full queue drops the span and counts it
//! (`edgeway_otlp_spans_dropped_total`); nothing ever waits for the collector. One task on the
//! node's runtime batches the queue and exports with the node's own pooled hyper client (see
//! `client`), so a collector that is down or slow costs failed exports
//! (`edgeway_otlp_export_failures_total`), never request latency. With the exporter unset the
//! request path pays one branch on an `Option`.

mod client;
mod config;
pub mod span;

pub use config::TracingConfig;
pub use span::{Finished, TraceIds};

use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub const SPANS_EXPORTED: &str = "edgeway_otlp_spans_exported_total";
pub const SPANS_DROPPED: &str = "edgeway_otlp_spans_dropped_total";
pub const EXPORT_FAILURES: &str = "edgeway_otlp_export_failures_total";

/// Spans in one export request at most.
const MAX_BATCH: usize = 512;

#[derive(Debug, thiserror::Error)]
#[error("tracing.otlp_endpoint: {0}")]
pub struct ExportError(String);

/// The request path's handle: `None` when export is off.
#[derive(Clone, Default)]
pub struct Spans {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    queue: mpsc::Sender<SpanData>,
    /// A new trace is sampled when its id's low 64 bits fall below this.
    threshold: u64,
    scope: opentelemetry::InstrumentationScope,
}

/// The exporting task, for the node to stop (and flush) at shutdown.
pub struct Exporter {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    timeout: Duration,
}

impl Spans {
    /// Starts the exporting task when `config` names an endpoint; otherwise export is off.
    pub fn start(
        config: &TracingConfig,
        node_id: &str,
        backends: &crate::config::Backends,
    ) -> Result<(Spans, Option<Exporter>), ExportError> {
        let Some(endpoint) = config.traces_url() else {
            return Ok((Spans::default(), None));
        };
        let timeout = Duration::from_millis(config.export_timeout_ms);
        let http =
            client::OtlpHttp::new(backends, timeout).map_err(|e| ExportError(e.to_string()))?;
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(timeout)
            .with_http_client(http)
            .build()
            .map_err(|e| ExportError(e.to_string()))?;
        let resource = opentelemetry_sdk::Resource::builder_empty()
            .with_service_name(config.service_name.clone())
            .with_attribute(opentelemetry::KeyValue::new(
                "service.instance.id",
                node_id.to_string(),
            ))
            .build();
        exporter.set_resource(&resource);
        let (queue, spans) = mpsc::channel(config.queue.max(1));
        let (stop, stopped) = watch::channel(false);
        let delay = Duration::from_millis(config.batch_delay_ms);
        let task = tokio::spawn(export_loop(exporter, spans, stopped, delay));
        let scope = opentelemetry::InstrumentationScope::builder("edgeway")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let inner = Inner {
            queue,
            threshold: threshold(config.sample_ratio),
            scope,
        };
        let exporter = Exporter {
            stop,
            task,
            timeout,
        };
        Ok((
            Spans {
                inner: Some(Arc::new(inner)),
            },
            Some(exporter),
        ))
    }

    /// The trace ids for a request, when spans are exported (the sampling decision included).
    pub fn begin(&self, headers: &http::HeaderMap) -> Option<TraceIds> {
        let inner = self.inner.as_deref()?;
        Some(TraceIds::from_client(headers, |trace_id| {
            (trace_id as u64) < inner.threshold || inner.threshold == u64::MAX
        }))
    }

    /// Queues the request's spans (if its trace is sampled); never waits.
    pub fn finish(&self, finished: &Finished<'_>) {
        let Some(inner) = self.inner.as_deref() else {
            return;
        };
        if !finished.ids.sampled {
            return;
        }
        let (server, integration) = span::build(finished, &inner.scope);
        for data in std::iter::once(server).chain(integration) {
            if inner.queue.try_send(data).is_err() {
                metrics::counter!(SPANS_DROPPED).increment(1);
            }
        }
    }
}

impl Exporter {
    /// Exports what is queued (bounded by the export timeout) and stops the task.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(self.timeout * 2, &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

/// `ratio` of the 64-bit space (`u64::MAX` for 1.0: everything).
fn threshold(ratio: f64) -> u64 {
    if ratio >= 1.0 {
        u64::MAX
    } else {
        (ratio.max(0.0) * u64::MAX as f64) as u64
    }
}

async fn export_loop(
    exporter: opentelemetry_otlp::SpanExporter,
    mut spans: mpsc::Receiver<SpanData>,
    mut stop: watch::Receiver<bool>,
    delay: Duration,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut failing = false;
    loop {
        // Wait for a first span (or the stop), then gather for up to `delay` more.
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            span = spans.recv() => match span {
                Some(span) => batch.push(span),
                None => break,
            },
        }
        let deadline = tokio::time::Instant::now() + delay;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, spans.recv()).await {
                Ok(Some(span)) => batch.push(span),
                Ok(None) | Err(_) => break,
            }
        }
        export(&exporter, &mut batch, &mut failing).await;
    }
    // Stopping: what is already queued still goes out.
    while let Ok(span) = spans.try_recv() {
        batch.push(span);
        if batch.len() == MAX_BATCH {
            export(&exporter, &mut batch, &mut failing).await;
        }
    }
    if !batch.is_empty() {
        export(&exporter, &mut batch, &mut failing).await;
    }
    let _ = exporter.shutdown();
}

/// Exports `batch` (emptying it). The first failure after a success is logged as a warning,
/// the rest only counted, so a collector that is down does not flood the log.
async fn export(
    exporter: &opentelemetry_otlp::SpanExporter,
    batch: &mut Vec<SpanData>,
    failing: &mut bool,
) {
    let count = batch.len() as u64;
    match exporter.export(std::mem::take(batch)).await {
        Ok(()) => {
            metrics::counter!(SPANS_EXPORTED).increment(count);
            *failing = false;
        }
        Err(e) => {
            metrics::counter!(EXPORT_FAILURES).increment(1);
            if !std::mem::replace(failing, true) {
                tracing::warn!(error = %e, spans = count, "OTLP span export failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_maps_onto_the_trace_id_space() {
        assert_eq!(threshold(1.0), u64::MAX);
        assert_eq!(threshold(0.0), 0);
        let half = threshold(0.5);
        assert!((u64::MAX / 2 - 1..=u64::MAX / 2 + 1).contains(&half));
    }
}
