//! Access logs: every `$context` field a stage asks for lands in its line, and a sink that
//! stops reading never slows requests down: lines are dropped and counted instead.

use edgeway_tests::doc::{mock, route};
use edgeway_tests::{Proto, TestNode, api_host, get};
use serde_json::{Value, json};
use std::time::Duration;

const FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","method":"$context.httpMethod","path":"$context.path","protocol":"$context.protocol","routeKey":"$context.routeKey","stage":"$context.stage","apiId":"$context.apiId","status":"$context.status","requestTime":"$context.requestTime","epoch":"$context.requestTimeEpoch","latency":"$context.responseLatency","length":"$context.responseLength","integrationLatency":"$context.integrationLatency","integrationStatus":"$context.integrationStatus","error":"$context.error.message","errorType":"$context.error.responseType"}"#;

fn logged_api(format: Option<&str>) -> Value {
    json!({
        "api": { "id": "pets", "name": "pets", "kind": "http" },
        "integrations": [mock("m", 201, "hello")],
        "routes": [route("GET", "/pets/{id}", "m")],
        "stages": [{ "name": "$default", "auto_deploy": true, "access_log": { "format": format } }],
    })
}

async fn lines(path: &std::path::Path, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} lines: {text}",
            lines.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_requested_field_is_in_the_line() {
    let node = TestNode::start_with(|config, dir| {
        config.access_log.destination = dir.join("access.log").display().to_string();
    })
    .await;
    node.admin.apply(&logged_api(Some(FORMAT))).await;
    let ok = node.get_api("pets", "/pets/7").await;
    assert_eq!(ok.status, 201);
    let h2 = node
        .send(Proto::H2c, get(&api_host("pets"), "/nowhere"))
        .await;
    assert_eq!(h2.status, 404);

    let lines = lines(&node.dir().join("access.log"), 2).await;
    let (first, second) = (&lines[0], &lines[1]);
    assert_eq!(
        first["requestId"],
        ok.headers["x-request-id"].to_str().unwrap()
    );
    assert_eq!(first["ip"], "127.0.0.1");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/pets/7");
    assert_eq!(first["protocol"], "HTTP/1.1");
    assert_eq!(first["routeKey"], "GET /pets/{id}");
    assert_eq!(first["stage"], "$default");
    assert_eq!(first["apiId"], "pets");
    assert_eq!(first["status"], "201");
    assert_eq!(first["length"], "5");
    assert_eq!(first["integrationStatus"], "201");
    assert_eq!(first["error"], "-");
    assert!(
        first["latency"].as_str().unwrap().parse::<u64>().is_ok(),
        "{first}"
    );
    assert!(
        first["integrationLatency"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert!(first["epoch"].as_str().unwrap().parse::<u64>().unwrap() > 1_700_000_000_000);
    assert!(
        first["requestTime"].as_str().unwrap().ends_with(" +0000"),
        "{first}"
    );

    assert_eq!(second["protocol"], "HTTP/2.0");
    assert_eq!(second["status"], "404");
    assert_eq!(second["routeKey"], "-");
    let error_type = h2.headers["x-amzn-errortype"].to_str().unwrap();
    assert_eq!(second["errorType"], error_type);
    let message: Value = serde_json::from_slice(&h2.body).unwrap();
    assert_eq!(second["error"], message["message"]);
    assert_eq!(second["integrationStatus"], "-");
    node.shutdown().await;
}

#[tokio::test]
async fn without_a_format_the_line_is_a_json_object_of_every_field() {
    let node = TestNode::start_with(|config, dir| {
        config.access_log.destination = dir.join("access.log").display().to_string();
    })
    .await;
    node.admin.apply(&logged_api(None)).await;
    assert_eq!(node.get_api("pets", "/pets/1").await.status, 201);
    let lines = lines(&node.dir().join("access.log"), 1).await;
    assert_eq!(lines[0]["routeKey"], "GET /pets/{id}");
    assert_eq!(lines[0]["status"], "201");
    assert_eq!(lines[0]["error.message"], Value::Null);
    node.shutdown().await;
}

#[tokio::test]
async fn a_stalled_sink_drops_lines_and_counts_them_while_requests_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("stalled");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // A reader that opens the pipe and never reads: once the pipe's buffer is full, every
    // write blocks the log writer for good.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::File::open(fifo).unwrap())
    };
    let node = TestNode::start_with(|config, _| {
        config.access_log.destination = fifo.display().to_string();
        config.access_log.queue = 16;
    })
    .await;
    let _reader = reader.join().unwrap();
    node.admin.apply(&logged_api(None)).await;
    let mut conn = node.conn(Proto::Http1).await;
    for i in 0..1500 {
        let reply = conn
            .fetch(get(&api_host("pets"), &format!("/pets/{i}")))
            .await;
        assert_eq!(reply.status, 201, "request {i}");
    }
    let metrics = node.admin.get_text("/metrics").await;
    let dropped: f64 = metrics
        .lines()
        .find(|l| l.starts_with("edgeway_access_log_dropped_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    assert!(dropped > 0.0, "no drops counted:\n{metrics}");
    node.shutdown().await;
}

#[tokio::test]
async fn request_ids_are_honoured_and_trace_context_reaches_the_backend_as_a_new_hop() {
    let node = TestNode::start().await;
    let backend = edgeway_tests::Backend::start("traced").await;
    let doc = edgeway_tests::doc::http(
        "traced",
        vec![edgeway_tests::doc::proxy("b", &backend.url("/echo"))],
        vec![route("GET", "/", "b")],
    );
    node.admin.apply(&doc).await;
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let request = edgeway_tests::request(http::Method::GET, &api_host("traced"), "/")
        .header("traceparent", parent)
        .header("tracestate", "vendor=1")
        .header("x-request-id", "caller-chose-this")
        .body(edgeway_tests::client::empty())
        .unwrap();
    let reply = node.send(Proto::Http1, request).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["x-request-id"], "caller-chose-this");
    let seen = &reply.json()["headers"];
    let sent = seen["traceparent"].as_str().unwrap();
    assert_eq!(&sent[..36], &parent[..36], "same trace id: {sent}");
    assert_ne!(&sent[36..52], &parent[36..52], "a new parent id: {sent}");
    assert_eq!(seen["tracestate"], "vendor=1");

    // Without one, the gateway starts a trace and makes up a request id.
    let reply = node.get_api("traced", "/").await;
    let sent = reply.json()["headers"]["traceparent"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sent.len(), 55, "{sent}");
    assert_eq!(reply.headers["x-request-id"].len(), 32);
    node.shutdown().await;
}
