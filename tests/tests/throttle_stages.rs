//! Stage, route and node-wide throttles end to end: 429 `THROTTLED` with `Retry-After` and the
//! `RateLimit-*` headers, limits that stay where they are set, and the metrics they leave.
//! Rates are tiny (one token per 100 s), so no token comes back while a test runs.

use edgeway_tests::{Reply, TestNode, doc};
use http::Method;
use serde_json::json;

/// An API `id` with mock routes `GET /a` and `GET /b`, deployed to `stages` (JSON stage objects).
fn api(id: &str, stages: Vec<serde_json::Value>) -> serde_json::Value {
    let names: Vec<&str> = stages.iter().filter_map(|s| s["name"].as_str()).collect();
    json!({
        "api": { "id": id, "name": id, "kind": "rest" },
        "integrations": [doc::mock("ok", 200, "{\"ok\": true}")],
        "routes": [doc::route("GET", "/a", "ok"), doc::route("GET", "/b", "ok")],
        "stages": stages,
        "deploy_to": names,
    })
}

fn throttle(rate: f64, burst: u32) -> serde_json::Value {
    json!({ "rate_limit": rate, "burst_limit": burst })
}

fn header_u64(reply: &Reply, name: &str) -> Option<u64> {
    reply.header(name).and_then(|v| v.parse().ok())
}

/// (RateLimit-Limit, RateLimit-Remaining) of an answer.
fn standing(reply: &Reply) -> (Option<u64>, Option<u64>) {
    (
        header_u64(reply, "ratelimit-limit"),
        header_u64(reply, "ratelimit-remaining"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_throttle_answers_429_with_headers_while_another_stage_is_unaffected() {
    let node = TestNode::start().await;
    node.admin
        .apply(&api(
            "shop",
            vec![
                json!({ "name": "limited", "throttle": throttle(0.01, 2) }),
                json!({ "name": "free" }),
            ],
        ))
        .await;

    let first = node.get_api("shop", "/limited/a").await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(standing(&first), (Some(2), Some(1)));
    assert!(header_u64(&first, "ratelimit-reset").is_some_and(|r| r >= 1));
    assert_eq!(
        first.header("retry-after"),
        None,
        "only refusals say when to retry"
    );
    let second = node.get_api("shop", "/limited/b").await;
    assert_eq!(
        standing(&second),
        (Some(2), Some(0)),
        "one bucket for the stage"
    );

    let refused = node.get_api("shop", "/limited/a").await;
    refused.assert_gateway_error(429, "THROTTLED");
    assert_eq!(refused.json(), json!({ "message": "Too Many Requests" }));
    assert_eq!(standing(&refused), (Some(2), Some(0)));
    let retry = header_u64(&refused, "retry-after").expect("Retry-After on 429");
    assert!((90..=100).contains(&retry), "one token per 100 s: {retry}");

    for _ in 0..5 {
        let free = node.get_api("shop", "/free/a").await;
        assert_eq!(free.status, 200, "the other stage is not throttled");
        // Only the node-wide limit applies there (default burst 5000).
        assert_eq!(header_u64(&free, "ratelimit-limit"), Some(5000));
    }

    let metrics = node
        .admin
        .call_with(Method::GET, "/metrics", None, None)
        .await;
    let line = metrics
        .text()
        .lines()
        .find(|l| {
            l.starts_with("edgeway_throttled_total")
                && l.contains("api=\"shop\"")
                && l.contains("stage=\"limited\"")
                && l.contains("limit=\"stage\"")
        })
        .map(str::to_string);
    assert!(
        line.as_deref().is_some_and(|l| l.ends_with(" 1")),
        "{line:?}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_throttle_replaces_the_stage_throttle_for_its_route_only() {
    let node = TestNode::start().await;
    node.admin
        .apply(&api(
            "routes",
            vec![json!({
                "name": "prod",
                "throttle": throttle(0.01, 3),
                "route_throttles": { "GET /a": throttle(0.01, 1) },
            })],
        ))
        .await;
    assert_eq!(node.get_api("routes", "/prod/a").await.status, 200);
    node.get_api("routes", "/prod/a")
        .await
        .assert_gateway_error(429, "THROTTLED");
    // /b has the stage's bucket, untouched by /a's requests.
    for remaining in [2, 1, 0] {
        let reply = node.get_api("routes", "/prod/b").await;
        assert_eq!(standing(&reply), (Some(3), Some(remaining)));
    }
    node.get_api("routes", "/prod/b")
        .await
        .assert_gateway_error(429, "THROTTLED");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_wide_limit_covers_every_api() {
    let node = TestNode::start_with(|config, _| {
        config.limits.node_rate = 0.01;
        config.limits.node_burst = 3;
    })
    .await;
    for id in ["one", "two"] {
        node.admin
            .apply(&api(id, vec![json!({ "name": "s" })]))
            .await;
    }
    let answers = [
        node.get_api("one", "/s/a").await,
        node.get_api("two", "/s/a").await,
        node.get_api("one", "/s/b").await,
    ];
    let remaining: Vec<_> = answers.iter().map(standing).collect();
    assert_eq!(
        remaining,
        [(Some(3), Some(2)), (Some(3), Some(1)), (Some(3), Some(0))]
    );
    let refused = node.get_api("two", "/s/b").await;
    refused.assert_gateway_error(429, "THROTTLED");
    assert!(header_u64(&refused, "retry-after").is_some_and(|r| r > 0));
    // Requests that match no route never reach the throttle.
    let unrouted = node.get_api("two", "/s/nowhere").await;
    assert_eq!(unrouted.status, 403);
    assert_eq!(unrouted.header("ratelimit-limit"), None);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_throttles_are_refused_naming_the_field() {
    let node = TestNode::start().await;
    node.admin
        .apply(&api("bad", vec![json!({ "name": "s" })]))
        .await;
    let cases = [
        (
            json!({ "name": "s", "throttle": throttle(1.0, 0) }),
            "stage s: throttle.burst_limit: must be >= 1",
        ),
        (
            json!({ "name": "s", "throttle": throttle(0.0, 1) }),
            "stage s: throttle.rate_limit: must be > 0",
        ),
        (
            json!({ "name": "s", "route_throttles": { "GET /a": throttle(-1.0, 1) } }),
            "route_throttles.GET /a.rate_limit",
        ),
        (
            json!({ "name": "s", "route_throttles": { "/a": throttle(1.0, 1) } }),
            "route keys such as 'GET /pets/{id}'",
        ),
    ];
    for (stage, expected) in cases {
        let (status, body) = node.admin.put("/apis/bad/stages/s", &stage).await;
        assert_eq!(status, 400, "{stage}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{stage}: {message}");
    }
    node.shutdown().await;
}
