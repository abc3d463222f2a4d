//! A finished request as OTLP spans: the gateway's server span and, when an integration was
//! called, its client span (the one the backend's `traceparent` names as parent).
//! Attribute names follow the OpenTelemetry HTTP semantic conventions where one exists.

use crate::metrics::Protocol;
pub use crate::pipeline::integrate::trace::TraceIds;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use std::borrow::Cow;
use std::time::{Duration, SystemTime};

/// What the gateway knows about a request once it has answered.
pub struct Finished<'a> {
    pub ids: TraceIds,
    pub method: &'a str,
    /// `GET /pets/{id}`, when the request matched a route.
    pub route_key: Option<&'a str>,
    pub api_id: Option<&'a str>,
    pub stage: Option<&'a str>,
    pub status: u16,
    pub protocol: Protocol,
    pub request_id: &'a str,
    pub started: SystemTime,
    pub duration: Duration,
    /// When the integration was called (after the start) and how long it took.
    pub integration: Option<(Duration, Duration)>,
}

/// The server span and, if an integration was called, its child.
pub fn build(f: &Finished<'_>, scope: &InstrumentationScope) -> (SpanData, Option<SpanData>) {
    let context = |span: u64| {
        SpanContext::new(
            f.ids.trace_id.into(),
            span.into(),
            TraceFlags::new(f.ids.flags),
            false,
            TraceState::default(),
        )
    };
    // Semantic conventions: "{method} {route}", or the method alone without a route; the
    // route key is exactly "{method} {route}".
    let name = match f.route_key {
        Some(key) => Cow::Owned(key.to_string()),
        None => Cow::Owned(f.method.to_string()),
    };
    let version = match f.protocol {
        Protocol::Http1 => "1.1",
        Protocol::H2 => "2",
        Protocol::H3 => "3",
    };
    let mut attributes = vec![
        KeyValue::new("http.request.method", f.method.to_string()),
        KeyValue::new("http.response.status_code", i64::from(f.status)),
        KeyValue::new("network.protocol.name", "http"),
        KeyValue::new("network.protocol.version", version),
        KeyValue::new("edgeway.request_id", f.request_id.to_string()),
    ];
    let optional = [
        ("edgeway.route_key", f.route_key),
        ("edgeway.api_id", f.api_id),
        ("edgeway.stage", f.stage),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            attributes.push(KeyValue::new(key, value.to_string()));
        }
    }
    // A server span is an error only for 5xx: a 4xx is the client's doing (semconv).
    let status = if f.status >= 500 {
        Status::error("")
    } else {
        Status::Unset
    };
    let server = SpanData {
        span_context: context(f.ids.server_span),
        parent_span_id: f.ids.remote_parent.map_or(SpanId::INVALID, SpanId::from),
        parent_span_is_remote: f.ids.remote_parent.is_some(),
        span_kind: SpanKind::Server,
        name,
        start_time: f.started,
        end_time: f.started + f.duration,
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    };
    let integration = f.integration.map(|(offset, took)| SpanData {
        span_context: context(f.ids.integration_span),
        parent_span_id: SpanId::from(f.ids.server_span),
        parent_span_is_remote: false,
        span_kind: SpanKind::Client,
        name: Cow::Borrowed("integration"),
        start_time: f.started + offset,
        end_time: f.started + offset + took,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: scope.clone(),
    });
    (server, integration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integration_span_is_the_server_spans_child_in_the_same_trace() {
        let ids = TraceIds {
            trace_id: 0xabc,
            remote_parent: Some(7),
            flags: 1,
            sampled: true,
            server_span: 11,
            integration_span: 12,
        };
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let finished = Finished {
            ids,
            method: "GET",
            route_key: Some("GET /pets/{id}"),
            api_id: Some("pets"),
            stage: Some("prod"),
            status: 502,
            protocol: Protocol::H2,
            request_id: "r1",
            started,
            duration: Duration::from_millis(30),
            integration: Some((Duration::from_millis(5), Duration::from_millis(20))),
        };
        let scope = InstrumentationScope::builder("edgeway").build();
        let (server, child) = build(&finished, &scope);
        let child = child.expect("an integration was called");
        assert_eq!(server.name, "GET /pets/{id}");
        assert_eq!(server.parent_span_id, SpanId::from(7));
        assert!(server.parent_span_is_remote);
        assert_eq!(child.parent_span_id, server.span_context.span_id());
        assert_eq!(
            child.span_context.trace_id(),
            server.span_context.trace_id()
        );
        assert_eq!(child.span_context.span_id(), SpanId::from(12));
        assert_eq!(child.start_time, started + Duration::from_millis(5));
        assert!(matches!(server.status, Status::Error { .. }));
        let version = server
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "network.protocol.version");
        assert_eq!(
            version.map(|kv| kv.value.as_str().into_owned()),
            Some("2".into())
        );
    }
}
