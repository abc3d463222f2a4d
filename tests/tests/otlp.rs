//! OTLP span export: a request through the gateway reaches a test collector as a server span
//! and an integration span, in the trace the backend saw in `traceparent`; a collector that is
//! down or stalled neither fails nor holds up requests; an https collector is trusted through
//! `backends.ca_file`.

use edgeway_tests::client::{Proto, empty};
use edgeway_tests::otlp::{Collector, Received};
use edgeway_tests::{
    Backend, TestCa, TestNode, api_host, closed_port, doc, get, metric_value, request,
};
use http::Method;
use std::net::SocketAddr;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

async fn traced_node(endpoint: String, queue: usize) -> TestNode {
    TestNode::start_with(|config, _| {
        config.tracing.otlp_endpoint = Some(endpoint);
        config.tracing.service_name = "edgeway-test".into();
        config.tracing.batch_delay_ms = 20;
        config.tracing.queue = queue;
        // A stalled collector holds an export (and shutdown's flush) this long at most.
        config.tracing.export_timeout_ms = 2_000;
    })
    .await
}

async fn echo_api(node: &TestNode, id: &str, backend: &Backend) {
    node.admin
        .apply(&doc::http(
            id,
            vec![doc::proxy("echo", &backend.url("/echo/{id}"))],
            vec![doc::route("GET", "/echo/{id}", "echo")],
        ))
        .await;
}

/// The backend's `traceparent`: (trace id, parent id).
fn seen_by_backend(echo: &serde_json::Value) -> (String, String) {
    let value = echo["headers"]["traceparent"]
        .as_str()
        .expect("traceparent");
    let parts: Vec<&str> = value.split('-').collect();
    (parts[1].to_string(), parts[2].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_reaches_the_collector_in_the_trace_the_backend_saw() {
    let collector = Collector::start().await;
    let backend = Backend::start("be").await;
    let node = traced_node(collector.endpoint(), 1024).await;
    echo_api(&node, "traced", &backend).await;

    // The caller's trace continues: over HTTP/1.1 with a traceparent.
    let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let asked = request(Method::GET, &api_host("traced"), "/echo/1")
        .header("traceparent", &caller)
        .body(empty())
        .unwrap();
    let reply = node.send(Proto::Http1, asked).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let request_id = reply.header("x-request-id").unwrap().to_string();
    let (trace, backend_parent) = seen_by_backend(&reply.json());
    assert_eq!(trace, CALLER_TRACE);

    let is_server = |s: &Received| s.trace_id() == CALLER_TRACE && s.span.kind == 2;
    let server = collector.wait_for("server span", is_server).await;
    assert_eq!(server.span.name, "GET /echo/{id}");
    assert_eq!(
        server.parent_span_id(),
        CALLER_SPAN,
        "the caller's span is its parent"
    );
    assert_eq!(server.service_name.as_deref(), Some("edgeway-test"));
    let attribute = |key: &str| server.attribute(key);
    assert_eq!(attribute("http.request.method").as_deref(), Some("GET"));
    assert_eq!(
        attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attribute("edgeway.route_key").as_deref(),
        Some("GET /echo/{id}")
    );
    assert_eq!(attribute("edgeway.api_id").as_deref(), Some("traced"));
    assert_eq!(attribute("edgeway.stage").as_deref(), Some("$default"));
    assert_eq!(
        attribute("network.protocol.version").as_deref(),
        Some("1.1")
    );
    assert_eq!(attribute("edgeway.request_id"), Some(request_id));
    assert!(server.span.end_time_unix_nano >= server.span.start_time_unix_nano);

    // The integration span is the server span's child and the backend's parent.
    let is_client = |s: &Received| s.trace_id() == CALLER_TRACE && s.span.kind == 3;
    let integration = collector.wait_for("integration span", is_client).await;
    assert_eq!(integration.parent_span_id(), server.span_id());
    assert_eq!(integration.span_id(), backend_parent);

    // A new trace over HTTP/2: the span carries the trace id the gateway sent the backend.
    let mut h2 = node.conn(Proto::H2c).await;
    let reply = h2.fetch(get(&api_host("traced"), "/echo/2")).await;
    assert_eq!(reply.status, 200);
    let (trace, _) = seen_by_backend(&reply.json());
    assert_ne!(trace, CALLER_TRACE);
    let server = collector
        .wait_for("h2 server span", |s| {
            s.trace_id() == trace && s.span.kind == 2
        })
        .await;
    assert_eq!(server.parent_span_id(), "", "a root span");
    assert_eq!(
        server.attribute("network.protocol.version").as_deref(),
        Some("2")
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsampled_callers_and_a_zero_ratio_export_nothing_but_the_backend_still_gets_context() {
    let collector = Collector::start().await;
    let backend = Backend::start("be").await;
    let node = TestNode::start_with(|config, _| {
        config.tracing.otlp_endpoint = Some(collector.endpoint());
        config.tracing.sample_ratio = 0.0;
        config.tracing.batch_delay_ms = 20;
    })
    .await;
    echo_api(&node, "unsampled", &backend).await;

    let reply = node.get_api("unsampled", "/echo/1").await;
    let value = reply.json()["headers"]["traceparent"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        value.ends_with("-00"),
        "not sampled, and the backend is told: {value}"
    );
    let unsampled = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-00");
    let asked = request(Method::GET, &api_host("unsampled"), "/echo/2")
        .header("traceparent", &unsampled)
        .body(empty())
        .unwrap();
    assert_eq!(node.send(Proto::Http1, asked).await.status, 200);

    // A sampled caller is exported whatever the ratio; it is the only span that arrives.
    let sampled = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let asked = request(Method::GET, &api_host("unsampled"), "/echo/3")
        .header("traceparent", &sampled)
        .body(empty())
        .unwrap();
    assert_eq!(node.send(Proto::Http1, asked).await.status, 200);
    collector
        .wait_for("the sampled caller's span", |s| s.span.kind == 2)
        .await;
    let servers: Vec<String> = (collector.received().iter())
        .filter(|s| s.span.kind == 2)
        .map(|s| s.attribute("edgeway.request_id").unwrap_or_default())
        .collect();
    assert_eq!(servers.len(), 1, "{servers:?}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_collector_is_trusted_through_backends_ca_file() {
    let ca = TestCa::new("collector CA");
    let collector = Collector::tls(&ca.leaf(&["localhost", "127.0.0.1"])).await;
    assert!(collector.endpoint().starts_with("https://"));
    let backend = Backend::start("be").await;

    let trusting = TestNode::start_with(|config, dir| {
        config.tracing.otlp_endpoint = Some(collector.endpoint());
        config.tracing.batch_delay_ms = 20;
        config.backends.ca_file = Some(ca.write_pem(dir));
    })
    .await;
    echo_api(&trusting, "secure", &backend).await;
    let reply = trusting.get_api("secure", "/echo/1").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let request_id = reply.header("x-request-id").unwrap().to_string();
    collector
        .wait_for("the server span, over TLS", |s| {
            s.span.kind == 2 && s.attribute("edgeway.request_id").as_deref() == Some(&request_id)
        })
        .await;
    trusting.shutdown().await;

    // A node that does not trust the collector's CA exports nothing and counts the failures.
    let before = collector.received().len();
    let untrusting = traced_node(collector.endpoint(), 1024).await;
    echo_api(&untrusting, "untrusted", &backend).await;
    let (failures_before, _) = export_counts(&untrusting).await;
    assert_eq!(untrusting.get_api("untrusted", "/echo/2").await.status, 200);
    wait_until(&untrusting, |(failures, _)| failures > failures_before).await;
    assert_eq!(
        collector.received().len(),
        before,
        "no span crossed an untrusted TLS link"
    );
    untrusting.shutdown().await;
}

/// Exported spans and failed exports so far (process-wide counters: compared before/after).
async fn export_counts(node: &TestNode) -> (f64, f64) {
    let text = node.admin.get_text("/metrics").await;
    (
        metric_value(&text, "edgeway_otlp_export_failures_total", &[]),
        metric_value(&text, "edgeway_otlp_spans_dropped_total", &[]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_or_stalled_neither_fails_nor_holds_requests() {
    let backend = Backend::start("be").await;

    // Down: nothing listens. Every request is answered; the exports fail and are counted.
    let down = closed_port();
    let node = traced_node(format!("http://{}", down.addr), 1024).await;
    echo_api(&node, "down", &backend).await;
    let (failures_before, _) = export_counts(&node).await;
    for i in 0..20 {
        let reply = node.get_api("down", &format!("/echo/{i}")).await;
        assert_eq!(reply.status, 200);
    }
    wait_until(&node, |(failures, _)| failures > failures_before).await;
    node.shutdown().await;

    // Stalled: the collector accepts and never answers. Once an export hangs on it, requests
    // still go through; spans beyond the small queue are dropped and counted.
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = stalled.local_addr().unwrap();
    let node = traced_node(format!("http://{addr}"), 4).await;
    echo_api(&node, "stalled", &backend).await;
    assert_eq!(node.get_api("stalled", "/echo/0").await.status, 200);
    let (_held, _) = tokio::time::timeout(std::time::Duration::from_secs(10), stalled.accept())
        .await
        .expect("the exporter connects")
        .unwrap();
    let (_, dropped_before) = export_counts(&node).await;
    for i in 1..=20 {
        let reply = node.get_api("stalled", &format!("/echo/{i}")).await;
        assert_eq!(reply.status, 200, "request {i} while the export hangs");
    }
    wait_until(&node, |(_, dropped)| dropped > dropped_before).await;
    node.shutdown().await;
}

async fn wait_until(node: &TestNode, done: impl Fn((f64, f64)) -> bool) {
    for _ in 0..200 {
        if done(export_counts(node).await) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("not reached: {:?}", export_counts(node).await);
}
