//! Usage-plan limits per API key end to end: the plan's per-route and per-key throttles, the
//! quota (QUOTA_EXCEEDED, extended and reset like AWS UpdateUsage), the per-day usage report,
//! and quota state that survives a restart. Rates are one token per 100 s, so none comes back
//! while a test runs.

use edgeway::pipeline::throttle::calendar::{DAY_MS, format_day};
use edgeway_tests::client::{Proto, Reply, empty};
use edgeway_tests::{TestNode, api_host, doc, request};
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// A REST API `keyed`, stage `prod`: `GET /a` and `GET /b` require a key.
async fn keyed_node() -> TestNode {
    let node = TestNode::start().await;
    let keyed = |path| json!({ "method": "GET", "path": path, "integration_id": "ok", "api_key_required": true });
    node.admin
        .apply(&doc::rest(
            "keyed",
            "prod",
            vec![doc::mock("ok", 200, "{}")],
            vec![keyed("/a"), keyed("/b")],
        ))
        .await;
    node
}

/// Creates a usage plan (`plan` JSON) with new keys named `keys`; returns the keys' values.
async fn plan_with_keys(node: &TestNode, plan: Value, keys: &[&str]) -> Vec<String> {
    let (status, body) = node.admin.post("/usageplans", &plan).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut values = Vec::new();
    for name in keys {
        let (status, key) = node
            .admin
            .post("/apikeys", &json!({ "id": name, "name": name }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        let attach = json!({ "key_id": name });
        let path = format!("/usageplans/{}/keys", body["id"].as_str().unwrap());
        let (status, attached) = node.admin.post(&path, &attach).await;
        assert_eq!(status, StatusCode::CREATED, "{attached}");
        values.push(key["value"].as_str().unwrap().to_string());
    }
    values
}

fn throttle(burst: u32) -> Value {
    json!({ "rate_limit": 0.01, "burst_limit": burst })
}

async fn call(node: &TestNode, path: &str, key: &str) -> Reply {
    let req = request(Method::GET, &api_host("keyed"), &format!("/prod{path}"))
        .header("x-api-key", key)
        .body(empty())
        .unwrap();
    node.send(Proto::Http1, req).await
}

/// (status, RateLimit-Limit, RateLimit-Remaining)
fn seen(reply: &Reply) -> (u16, Option<u64>, Option<u64>) {
    let number = |name| reply.header(name).and_then(|v| v.parse().ok());
    (
        reply.status.as_u16(),
        number("ratelimit-limit"),
        number("ratelimit-remaining"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_plan_limits_is_throttled_while_another_key_is_not() {
    let node = keyed_node().await;
    let plan = json!({
        "id": "gold", "name": "gold",
        "api_stages": [{ "api_id": "keyed", "stage": "prod",
                         "route_throttles": { "GET /a": throttle(1) } }],
        "throttle": throttle(3),
    });
    let keys = plan_with_keys(&node, plan, &["alice", "bob"]).await;
    let (alice, bob) = (&keys[0], &keys[1]);

    // The plan's per-route throttle first: one request on /a.
    assert_eq!(
        seen(&call(&node, "/a", alice).await),
        (200, Some(1), Some(0))
    );
    let refused = call(&node, "/a", alice).await;
    refused.assert_gateway_error(429, "THROTTLED");
    assert_eq!(refused.json(), json!({ "message": "Too Many Requests" }));
    assert!(refused.header("retry-after").is_some());
    // Then the key's plan throttle (burst 3) over every route; the refusal took nothing.
    assert_eq!(
        seen(&call(&node, "/b", alice).await),
        (200, Some(3), Some(1))
    );
    assert_eq!(
        seen(&call(&node, "/b", alice).await),
        (200, Some(3), Some(0))
    );
    assert_eq!(
        seen(&call(&node, "/b", alice).await),
        (429, Some(3), Some(0))
    );

    // Bob's buckets are his own.
    assert_eq!(seen(&call(&node, "/a", bob).await), (200, Some(1), Some(0)));
    assert_eq!(seen(&call(&node, "/b", bob).await), (200, Some(3), Some(1)));
    node.shutdown().await;
}

fn today() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format_day(now.as_millis() as i64 / DAY_MS)
}

async fn patch_usage(node: &TestNode, body: Value) -> (StatusCode, Value) {
    let path = "/usageplans/metered/keys/carol/usage";
    node.admin.call(Method::PATCH, path, Some(&body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_quota_is_extended_reset_reported_and_kept_across_a_restart() {
    let mut node = keyed_node().await;
    // A monthly quota: the test never straddles its boundary unless run at midnight on the 1st.
    let plan = json!({
        "id": "metered", "name": "metered",
        "api_stages": [{ "api_id": "keyed", "stage": "prod" }],
        "quota": { "limit": 3, "period": "MONTH" },
    });
    let carol = &plan_with_keys(&node, plan, &["carol"]).await[0];
    for left in [2, 1, 0] {
        assert_eq!(
            seen(&call(&node, "/a", carol).await),
            (200, Some(3), Some(left))
        );
    }
    let refused = call(&node, "/b", carol).await;
    refused.assert_gateway_error(429, "QUOTA_EXCEEDED");
    assert_eq!(refused.json(), json!({ "message": "Limit Exceeded" }));
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=31 * 86_400).contains(&retry),
        "until the month ends: {retry}"
    );
    assert_eq!(
        refused.header("ratelimit-reset"),
        refused.header("retry-after")
    );
    let info = node.admin.get("/usageplans/metered/keys/carol").await;
    assert_eq!(info["quota"]["remaining"], 0, "{info}");

    // UpdateUsage: two more, then the full quota back.
    let (status, info) = patch_usage(&node, json!({ "remaining": 2 })).await;
    assert_eq!(
        (status, &info["quota"]["remaining"]),
        (StatusCode::OK, &json!(2))
    );
    assert_eq!(
        seen(&call(&node, "/a", carol).await),
        (200, Some(3), Some(1))
    );
    assert_eq!(
        seen(&call(&node, "/a", carol).await),
        (200, Some(3), Some(0))
    );
    assert_eq!(call(&node, "/a", carol).await.status, 429);
    let (status, info) = patch_usage(&node, json!({ "reset": true })).await;
    assert_eq!(
        (status, &info["quota"]["remaining"]),
        (StatusCode::OK, &json!(3))
    );
    for bad in [json!({}), json!({ "remaining": 1, "reset": true })] {
        assert_eq!(patch_usage(&node, bad).await.0, StatusCode::BAD_REQUEST);
    }

    // GetUsage: today, 5 admitted, 3 left.
    let day = today();
    let report = node
        .admin
        .get(&format!(
            "/usageplans/metered/usage?key_id=carol&start_date={day}&end_date={day}"
        ))
        .await;
    assert_eq!(report["items"], json!({ "carol": [[5, 3]] }), "{report}");

    // The quota survives a restart: no fresh month.
    assert_eq!(
        seen(&call(&node, "/a", carol).await),
        (200, Some(3), Some(2))
    );
    node.restart().await;
    assert_eq!(
        seen(&call(&node, "/a", carol).await),
        (200, Some(3), Some(1))
    );

    let metrics = node
        .admin
        .call_with(Method::GET, "/metrics", None, None)
        .await;
    let counted = metrics.text().lines().any(|l| {
        l.starts_with("edgeway_quota_exceeded_total")
            && l.contains("api=\"keyed\"")
            && l.contains("stage=\"prod\"")
    });
    assert!(counted, "{}", metrics.text());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_without_a_quota_count_use_but_refuse_quota_updates() {
    let node = keyed_node().await;
    let plan = json!({
        "id": "metered", "name": "free",
        "api_stages": [{ "api_id": "keyed", "stage": "prod" }],
    });
    let key = &plan_with_keys(&node, plan, &["carol"]).await[0];
    for _ in 0..2 {
        assert_eq!(call(&node, "/a", key).await.status, 200);
    }
    let (status, body) = patch_usage(&node, json!({ "remaining": 5 })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let day = today();
    let report = node
        .admin
        .get(&format!(
            "/usageplans/metered/usage?start_date={day}&end_date={day}"
        ))
        .await;
    assert_eq!(report["items"], json!({ "carol": [[2, null]] }), "{report}");
    // Detaching the key ends its access (the authorize phase needs a plan for the stage).
    let (status, _) = node.admin.delete("/usageplans/metered/keys/carol").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(call(&node, "/a", key).await.status, 403);
    // Deleting the plan detaches its keys.
    let keys = plan_with_keys(
        &node,
        json!({ "id": "other", "name": "o", "api_stages": [{ "api_id": "keyed", "stage": "prod" }] }),
        &["dave"],
    )
    .await;
    assert_eq!(call(&node, "/a", &keys[0]).await.status, 200);
    assert_eq!(
        node.admin.delete("/usageplans/other").await.0,
        StatusCode::OK
    );
    assert_eq!(
        node.admin
            .call(Method::GET, "/usageplans/other/keys/dave", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let objects = node.admin.get("/objects").await.to_string();
    assert!(!objects.contains("usage_plan_key"), "{objects}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_change_cannot_put_a_key_in_two_plans_for_one_stage() {
    let node = keyed_node().await;
    let stages = |names: &[&str]| {
        names
            .iter()
            .map(|s| json!({ "api_id": "keyed", "stage": s }))
            .collect::<Vec<_>>()
    };
    let prod = json!({ "id": "prod-plan", "name": "p", "api_stages": stages(&["prod"]) });
    plan_with_keys(&node, prod, &["erin"]).await;
    let dev = json!({ "id": "dev-plan", "name": "d", "api_stages": stages(&["dev"]) });
    let (status, _) = node.admin.post("/usageplans", &dev).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = node
        .admin
        .post("/usageplans/dev-plan/keys", &json!({ "key_id": "erin" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let widened = json!({ "name": "d", "api_stages": stages(&["dev", "prod"]) });
    let (status, body) = node.admin.put("/usageplans/dev-plan", &widened).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("api key erin is already in usage plan prod-plan"),
        "{message}"
    );
    node.shutdown().await;
}
