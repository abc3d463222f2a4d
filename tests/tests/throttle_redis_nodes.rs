//! Two real nodes configured with `[limits.redis]` and one `redis-server`: a route throttle and
//! a key's quota hold across both nodes, over HTTP, with the usual 429s and headers; the admin
//! API reports the cluster-wide quota; `/metrics` shows the lease calls.

use edgeway::pipeline::throttle::RedisSettings;
use edgeway_tests::client::{empty, request};
use edgeway_tests::{Proto, RedisServer, Reply, TestNode, api_host, doc};
use http::{Method, StatusCode};
use serde_json::json;

const KEY_VALUE: &str = "partner-key-0123456789-abcdef";

async fn node(redis: &RedisServer) -> TestNode {
    let mut settings = RedisSettings::server(&redis.url());
    settings.lease_wait_ms = 2_000;
    settings.response_timeout_ms = 2_000;
    let node = TestNode::start_with(|config, _| config.limits.redis = Some(settings)).await;
    let mut keyed = doc::route("GET", "/k", "ok");
    keyed["api_key_required"] = json!(true);
    let api = json!({
        "api": { "id": "shop", "name": "shop", "kind": "rest" },
        "integrations": [doc::mock("ok", 200, "{}")],
        "routes": [doc::route("GET", "/a", "ok"), keyed],
        "stages": [{ "name": "prod",
            "route_throttles": { "GET /a": { "rate_limit": 0.01, "burst_limit": 6 } } }],
        "deploy_to": ["prod"],
    });
    node.admin.apply(&api).await;
    // The same plan and key on both nodes (until the cluster replicates objects).
    let plan = json!({ "id": "gold", "name": "gold",
        "api_stages": [{ "api_id": "shop", "stage": "prod" }],
        "quota": { "limit": 5, "period": "DAY", "offset": 0 }, "fail_mode": "CLOSED" });
    let (status, body) = node.admin.post("/usageplans", &plan).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let key = json!({ "id": "partner", "name": "partner", "value": KEY_VALUE });
    let (status, body) = node.admin.post("/apikeys", &key).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let attach = json!({ "key_id": "partner" });
    let (status, body) = node.admin.post("/usageplans/gold/keys", &attach).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    node
}

async fn keyed(node: &TestNode) -> Reply {
    let req = request(Method::GET, &api_host("shop"), "/prod/k")
        .header("x-api-key", KEY_VALUE)
        .body(empty())
        .unwrap();
    node.send(Proto::Http1, req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_throttle_and_a_quota_hold_across_two_nodes_sharing_redis() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis).await, node(&redis).await);

    // The route's burst of 6 is shared: requests alternate between the nodes.
    let mut statuses = Vec::new();
    for i in 0..10 {
        let n = if i % 2 == 0 { &a } else { &b };
        let reply = n.get_api("shop", "/prod/a").await;
        if reply.status == 429 {
            reply.assert_gateway_error(429, "THROTTLED");
            assert!(reply.header("retry-after").is_some());
            assert_eq!(reply.header("ratelimit-limit"), Some("6"));
        }
        statuses.push(reply.status.as_u16());
    }
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    assert_eq!(ok, 6, "{statuses:?}");

    // The key's quota of 5 requests a day is one quota, whichever node serves.
    let mut served = 0;
    for i in 0..9 {
        let reply = keyed(if i % 3 == 0 { &a } else { &b }).await;
        match reply.status.as_u16() {
            200 => served += 1,
            _ => reply.assert_gateway_error(429, "QUOTA_EXCEEDED"),
        }
    }
    assert_eq!(served, 5);
    let info = b.admin.get("/usageplans/gold/keys/partner").await;
    assert_eq!(info["quota"]["remaining"], 0, "{info}");
    let (status, _) = a
        .admin
        .call(
            Method::PATCH,
            "/usageplans/gold/keys/partner/usage",
            Some(&json!({ "remaining": 2 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let info = b.admin.get("/usageplans/gold/keys/partner").await;
    assert_eq!(info["quota"]["remaining"], 2, "set on a, seen on b: {info}");

    let metrics = a
        .admin
        .call_with(Method::GET, "/metrics", None, None)
        .await
        .text();
    for series in [
        "edgeway_redis_lease_requests_total{",
        "edgeway_redis_latency_seconds_bucket",
        "edgeway_redis_fallback 0",
        "edgeway_limiter_admitted_total{plan=\"gold\"}",
        "edgeway_limiter_refused_total{plan=\"-\"}",
    ] {
        assert!(metrics.contains(series), "{series} in /metrics");
    }
}
