//! `edgeway-load` against real servers: the test backends and a node with usage plans. Each test
//! checks the report's numbers against what the servers saw or what the schedule implies.

use edgeway_load::{HttpVersion, KeySpec, LoadConfig, Mode, Report, Summary, Target};
use edgeway_tests::{Backend, TestCa, TestNode, doc};
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::json;
use std::time::Duration;

fn target(url: &str) -> Target {
    url.parse().expect("valid target")
}

fn ok(summary: &Summary) -> u64 {
    summary.statuses.get("200").copied().unwrap_or(0)
}

/// `n` is within `slack` of `expected`.
#[track_caller]
fn near(n: u64, expected: u64, slack: u64, what: &str) {
    assert!(
        n.abs_diff(expected) <= slack,
        "{what}: {n}, expected {expected} ± {slack}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_rate_times_duration_and_warmup_is_not_counted() {
    let backend = Backend::start("b").await;
    let mut config = LoadConfig::open(
        vec![target(&backend.url("/x"))],
        200.0,
        Duration::from_secs(2),
    );
    config.warmup = Duration::from_millis(500);
    let report = edgeway_load::run(config).await.expect("run");
    // The schedule holds 200 × 2 requests in the measured window, whatever the machine's speed.
    near(report.total.sent, 400, 1, "sent");
    assert_eq!(ok(&report.total), report.total.sent, "{report:?}");
    assert_eq!(report.total.missed, 0);
    assert!(report.total.errors.is_empty(), "{:?}", report.total.errors);
    assert_eq!(report.total.latency_ms.count, report.total.sent);
    near(
        report.total.admitted_rps.round() as u64,
        200,
        1,
        "admitted/s",
    );
    // The backend also saw the 100 warm-up requests.
    near(backend.hits() as u64, 500, 2, "backend hits");
    assert_eq!(report.targets[0].summary.sent, report.total.sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_targets_share_the_requests_by_weight() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let targets = vec![target(&format!("3*{}", a.url("/"))), target(&b.url("/"))];
    let report = edgeway_load::run(LoadConfig::open(targets, 200.0, Duration::from_secs(1)))
        .await
        .expect("run");
    let sent: Vec<u64> = report.targets.iter().map(|t| t.summary.sent).collect();
    near(sent[0], 150, 1, "weight 3");
    near(sent[1], 50, 1, "weight 1");
    assert_eq!((a.hits() as u64, b.hits() as u64), (sent[0], sent[1]));
    assert_eq!(report.targets[0].weight, 3);
}

async fn node_with_keyed_api() -> (TestNode, String, String) {
    let node = TestNode::start().await;
    let admin = &node.admin;
    let mut route = doc::route("GET", "/a", "ok");
    route["api_key_required"] = json!(true);
    admin
        .apply(&doc::rest(
            "shop",
            "prod",
            vec![doc::mock("ok", 200, "{}")],
            vec![route],
        ))
        .await;
    let mut values = Vec::new();
    for (plan, throttle) in [
        ("free", json!({ "rate_limit": 5.0, "burst_limit": 5 })),
        ("gold", json!({ "rate_limit": 1000.0, "burst_limit": 1000 })),
    ] {
        let body = json!({ "id": plan, "name": plan, "throttle": throttle,
                           "api_stages": [{ "api_id": "shop", "stage": "prod" }] });
        assert_eq!(
            admin.post("/usageplans", &body).await.0,
            StatusCode::CREATED
        );
        let (status, key) = admin.post("/apikeys", &json!({ "name": plan })).await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        let attach = json!({ "key_id": key["id"] });
        let path = format!("/usageplans/{plan}/keys");
        assert_eq!(admin.post(&path, &attach).await.0, StatusCode::CREATED);
        values.push(key["value"].as_str().expect("value shown once").to_string());
    }
    let gold = values.pop().expect("gold");
    let free = values.pop().expect("free");
    (node, free, gold)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_has_its_own_rate_and_its_admitted_rate_shows_its_throttle() {
    let (node, free, gold) = node_with_keyed_api().await;
    let url = format!("http://{}/prod/a", node.public_addr());
    let mut config = LoadConfig::open(vec![target(&url)], 0.0, Duration::from_secs(2));
    config.keys = vec![
        KeySpec {
            name: "free".into(),
            rate: 50.0,
            value: free,
        },
        KeySpec {
            name: "gold".into(),
            rate: 25.0,
            value: gold,
        },
    ];
    config.headers = vec![(
        HeaderName::from_static("host"),
        HeaderValue::from_static("shop.execute-api.localhost"),
    )];
    let report = edgeway_load::run(config).await.expect("run");
    let (free, gold) = (&report.keys[0], &report.keys[1]);
    assert_eq!((free.name.as_str(), gold.name.as_str()), ("free", "gold"));
    near(free.summary.sent, 100, 1, "free sent");
    near(gold.summary.sent, 50, 1, "gold sent");
    assert_eq!(
        ok(&gold.summary),
        gold.summary.sent,
        "gold is never throttled"
    );
    // free: a burst of 5, then 5 per second for 2 s (15); the rest are refused with 429. The
    // upper bound leaves room for requests a busy machine delivers late (more tokens by then).
    let admitted = free.summary.admitted;
    assert!((12..=25).contains(&admitted), "free admitted {admitted}");
    assert_eq!(
        free.summary.statuses.get("429").copied(),
        Some(free.summary.sent - admitted)
    );
    assert_eq!(report.total.sent, free.summary.sent + gold.summary.sent);
    assert_eq!(report.offered_rps, Some(75.0));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_tls_and_h2c_reach_the_backend() {
    let ca = TestCa::new("load test CA");
    let tls = Backend::tls("tls", &ca.leaf(&["localhost"])).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = LoadConfig::open(
        vec![target(&format!("https://127.0.0.1:{}/", tls.addr.port()))],
        50.0,
        Duration::from_secs(1),
    );
    config.http = HttpVersion::Http2;
    config.connections = 1;
    config.ca_file = Some(ca.write_pem(dir.path()));
    config.headers = vec![(
        HeaderName::from_static("host"),
        HeaderValue::from_static("localhost"),
    )];
    let report = edgeway_load::run(config.clone()).await.expect("run");
    assert_eq!(report.protocol, "h2");
    near(ok(&report.total), 50, 1, "TLS h2 answers");
    assert_eq!(tls.hits() as u64, report.total.sent);

    // Without the CA the handshake fails, and the report says so.
    config.ca_file = None;
    let report = edgeway_load::run(config).await.expect("run");
    assert_eq!(
        report.total.errors.get("tls").copied(),
        Some(report.total.sent)
    );

    let h2c = Backend::h2c_only("h2c").await;
    let mut config = LoadConfig::open(vec![target(&h2c.url("/"))], 50.0, Duration::from_secs(1));
    config.http = HttpVersion::Http2;
    let report = edgeway_load::run(config).await.expect("run");
    near(ok(&report.total), 50, 1, "h2c answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_keeps_its_workers_busy_and_no_more() {
    let backend = Backend::start("slow").await;
    let mut config = LoadConfig::open(
        vec![target(&backend.url("/slow?ms=50"))],
        0.0,
        Duration::from_secs(1),
    );
    config.mode = Mode::Closed { concurrency: 4 };
    let report = edgeway_load::run(config).await.expect("run");
    // Four workers, each waiting ≥ 50 ms per answer: at most 4 × (1 s / 50 ms + 1).
    let sent = report.total.sent;
    assert!((4..=84).contains(&sent), "sent {sent}");
    assert_eq!(ok(&report.total), sent);
    assert!(
        report.total.service_time_ms.min >= 50.0,
        "{:?}",
        report.total.service_time_ms
    );
    assert_eq!(
        (report.mode.as_str(), report.concurrency),
        ("closed", Some(4))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_latency_counts_the_wait_a_slow_server_causes() {
    // One connection, 300 ms per answer, 10 requests due within 1 s: they queue. Latency from
    // the scheduled instant grows to about 2 s; the service time stays about 300 ms.
    let backend = Backend::start("slow").await;
    let mut config = LoadConfig::open(
        vec![target(&backend.url("/slow?ms=300"))],
        10.0,
        Duration::from_secs(1),
    );
    config.connections = 1;
    let report = edgeway_load::run(config).await.expect("run");
    assert_eq!(ok(&report.total), 10);
    let (latency, service) = (&report.total.latency_ms, &report.total.service_time_ms);
    assert!(latency.max >= 1500.0, "latency {latency:?}");
    assert!(service.max < 1000.0, "service time {service:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_requests_are_counted_as_timeouts() {
    let backend = Backend::start("slow").await;
    let mut config = LoadConfig::open(
        vec![target(&backend.url("/slow?ms=3000"))],
        20.0,
        Duration::from_millis(500),
    );
    config.timeout = Duration::from_millis(200);
    let report: Report = edgeway_load::run(config).await.expect("run");
    assert_eq!(
        report.total.errors.get("timeout").copied(),
        Some(report.total.sent)
    );
    assert!(report.total.statuses.is_empty());
    assert_eq!(report.total.admitted_rps, 0.0);
}
