//! The stage response cache end to end, against a backend that counts its calls: hits and
//! misses, TTL expiry, cache-key parameters, request coalescing, `Cache-Control: max-age=0`
//! under each unauthorized-handling policy, answers that must not be stored, and stage flush.

use edgeway_tests::client::{empty, request};
use edgeway_tests::{Backend, Proto, Reply, TestNode, api_host, doc};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// A REST API `id` proxying `GET /{proxy+}` (and `POST /search`) to `backend`, with one stage
/// per entry of `stages` (JSON stage objects).
fn cached_api(id: &str, backend: &Backend, stages: Vec<Value>) -> Value {
    let names: Vec<&str> = stages.iter().filter_map(|s| s["name"].as_str()).collect();
    json!({
        "api": { "id": id, "name": id, "kind": "rest" },
        "integrations": [doc::proxy("be", &backend.url("/{proxy}"))],
        "routes": [
            doc::route("GET", "/{proxy+}", "be"),
            { "method": "POST", "path": "/search", "integration_id": "be", "api_key_required": true },
        ],
        "stages": stages,
        "deploy_to": names,
    })
}

fn stage(name: &str, cache: Value) -> Value {
    json!({ "name": name, "cache": cache })
}

async fn send(
    node: &TestNode,
    api: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut builder = request(method, &api_host(api), path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    node.send(Proto::Http1, builder.body(empty()).expect("request"))
        .await
}

async fn get(node: &TestNode, api: &str, path: &str) -> Reply {
    send(node, api, Method::GET, path, &[]).await
}

#[track_caller]
fn assert_cache(reply: &Reply, expected: &str) {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.header("x-cache"),
        Some(expected),
        "{:?}",
        reply.headers
    );
}

/// The value of one series in `/metrics`.
async fn metric(node: &TestNode, name: &str, api: &str) -> f64 {
    let text = node
        .admin
        .call_with(Method::GET, "/metrics", None, None)
        .await
        .text();
    // Summed over the API's routes and protocols.
    edgeway_tests::metric_value(&text, name, &[&format!("api=\"{api}\"")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_get_is_a_hit_with_age_and_the_backend_sees_one_call() {
    let (node, backend) = (TestNode::start().await, Backend::start("be").await);
    node.admin
        .apply(&cached_api(
            "hits",
            &backend,
            vec![stage("prod", json!({"enabled": true}))],
        ))
        .await;

    let first = get(&node, "hits", "/prod/pets/1").await;
    assert_cache(&first, "Miss");
    let second = get(&node, "hits", "/prod/pets/1").await;
    assert_cache(&second, "Hit");
    assert_eq!(second.body, first.body);
    assert!(
        second
            .header("age")
            .is_some_and(|a| a.parse::<u64>().is_ok())
    );
    assert_eq!(backend.hits(), 1);

    // Another path parameter value is another entry (path parameters key by default).
    assert_cache(&get(&node, "hits", "/prod/pets/2").await, "Miss");
    assert_eq!(backend.hits(), 2);
    // Other methods are not cached unless the route says so.
    let post = send(&node, "hits", Method::POST, "/prod/search", &[]).await;
    assert_eq!(
        post.status, 403,
        "api key required: the cache never skips access control"
    );
    assert_eq!(post.header("x-cache"), None);

    assert_eq!(metric(&node, "edgeway_cache_hits_total", "hits").await, 1.0);
    assert_eq!(
        metric(&node, "edgeway_cache_misses_total", "hits").await,
        2.0
    );
    assert!(metric(&node, "edgeway_cache_bytes", "hits").await > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_expire_after_the_routes_ttl() {
    let (node, backend) = (TestNode::start().await, Backend::start("be").await);
    let cache = json!({"enabled": true, "routes": {"GET /{proxy+}": {"ttl_seconds": 1}}});
    node.admin
        .apply(&cached_api("ttl", &backend, vec![stage("prod", cache)]))
        .await;

    assert_cache(&get(&node, "ttl", "/prod/a").await, "Miss");
    assert_cache(&get(&node, "ttl", "/prod/a").await, "Hit");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let reply = get(&node, "ttl", "/prod/a").await;
        if reply.header("x-cache") == Some("Miss") {
            break;
        }
        assert!(
            reply
                .header("age")
                .is_some_and(|a| a.parse::<u64>().unwrap() <= 1)
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "entry outlived its 1 s TTL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(backend.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_key_parameters_split_entries_and_unlisted_ones_do_not() {
    let (node, backend) = (TestNode::start().await, Backend::start("be").await);
    let cache = json!({"enabled": true, "routes": {"GET /{proxy+}": {"key_parameters": {
        "query_strings": ["size"], "headers": ["accept-language"]}}}});
    node.admin
        .apply(&cached_api("keys", &backend, vec![stage("prod", cache)]))
        .await;

    assert_cache(&get(&node, "keys", "/prod/list?size=1").await, "Miss");
    assert_cache(&get(&node, "keys", "/prod/list?size=2").await, "Miss");
    assert_eq!(
        backend.hits(),
        2,
        "two values of a listed query string, two entries"
    );
    let unlisted = get(&node, "keys", "/prod/list?size=1&page=9").await;
    assert_cache(&unlisted, "Hit");
    assert_eq!(
        unlisted.json()["query"],
        "size=1",
        "the stored answer is size=1's"
    );
    let german = send(
        &node,
        "keys",
        Method::GET,
        "/prod/list?size=1",
        &[("accept-language", "de")],
    );
    assert_cache(&german.await, "Miss");
    assert_eq!(backend.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_misses_make_one_backend_call() {
    let (node, backend) = (TestNode::start().await, Backend::start("be").await);
    node.admin
        .apply(&cached_api(
            "burst",
            &backend,
            vec![stage("prod", json!({"enabled": true}))],
        ))
        .await;
    let node = std::sync::Arc::new(node);
    let requests: Vec<_> = (0..100)
        .map(|_| {
            let node = node.clone();
            tokio::spawn(async move { get(&node, "burst", "/prod/slow?ms=500").await })
        })
        .collect();
    let mut bodies = std::collections::HashSet::new();
    for request in requests {
        let reply = request.await.expect("request task");
        assert_eq!(reply.status, 200, "{}", reply.text());
        bodies.insert(reply.body);
    }
    assert_eq!(
        backend.hits(),
        1,
        "one integration call for 100 concurrent misses"
    );
    assert_eq!(bodies.len(), 1);
    let coalesced = metric(&node, "edgeway_cache_coalesced_total", "burst").await;
    let hits = metric(&node, "edgeway_cache_hits_total", "burst").await;
    assert_eq!(coalesced + hits, 99.0, "coalesced {coalesced}, hits {hits}");
    assert!(coalesced >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_zero_follows_each_unauthorized_handling_policy() {
    let (node, backend) = (TestNode::start().await, Backend::start("be").await);
    let policy = |handling: &str| json!({"enabled": true, "unauthorized_handling": handling});
    let stages = vec![
        stage("fail", policy("FAIL_WITH_403")),
        stage("warn", policy("SUCCEED_WITH_RESPONSE_HEADER")),
        stage("quiet", policy("SUCCEED_WITHOUT_RESPONSE_HEADER")),
        stage(
            "open",
            json!({"enabled": true, "require_authorization": false}),
        ),
        stage(
            "keyed",
            json!({"enabled": true, "unauthorized_handling": "FAIL_WITH_403",
            "routes": {"POST /search": {"methods": ["POST"]}}}),
        ),
    ];
    node.admin.apply(&cached_api("inv", &backend, stages)).await;
    let fresh = [("cache-control", "max-age=0")];
    for name in ["fail", "warn", "quiet", "open"] {
        assert_cache(&get(&node, "inv", &format!("/{name}/x")).await, "Miss");
    }
    assert_eq!(backend.hits(), 4);

    let refused = send(&node, "inv", Method::GET, "/fail/x", &fresh).await;
    refused.assert_gateway_error(403, "ACCESS_DENIED");
    let warned = send(&node, "inv", Method::GET, "/warn/x", &fresh).await;
    assert_cache(&warned, "Hit");
    assert!(
        warned
            .header("warning")
            .is_some_and(|w| w.starts_with("199 "))
    );
    let quiet = send(&node, "inv", Method::GET, "/quiet/x", &fresh).await;
    assert_cache(&quiet, "Hit");
    assert_eq!(quiet.header("warning"), None);
    assert_eq!(
        backend.hits(),
        4,
        "unauthorized invalidations reach no backend"
    );

    // Without required authorization anyone refreshes the entry.
    assert_cache(
        &send(&node, "inv", Method::GET, "/open/x", &fresh).await,
        "Miss",
    );
    assert_eq!(backend.hits(), 5);
    assert_cache(&get(&node, "inv", "/open/x").await, "Hit");

    // A caller with a valid API key is authorized, even where others get 403.
    let key = api_key_for(&node, "inv", "keyed").await;
    let search = async |extra: &[(&str, &str)]| {
        let mut headers = vec![("x-api-key", key.as_str())];
        headers.extend_from_slice(extra);
        send(&node, "inv", Method::POST, "/keyed/search", &headers).await
    };
    assert_cache(&search(&[]).await, "Miss");
    assert_cache(&search(&[]).await, "Hit");
    assert_cache(&search(&fresh).await, "Miss");
    assert_eq!(backend.hits(), 7);
}

/// A new API key in a usage plan covering `api`'s `stage`; returns its value.
async fn api_key_for(node: &TestNode, api: &str, stage: &str) -> String {
    let (status, key) = node.admin.post("/apikeys", &json!({"name": "k"})).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let plan = json!({"name": "p", "api_stages": [{"api_id": api, "stage": stage}]});
    let (status, plan) = node.admin.post("/usageplans", &plan).await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    let attach = format!("/usageplans/{}/keys", plan["id"].as_str().unwrap());
    let (status, body) = node
        .admin
        .post(&attach, &json!({"key_id": key["id"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    key["value"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_cookie_no_store_and_error_answers_are_not_stored() {
    let (node, backend) = (TestNode::start().await, Backend::start("be").await);
    node.admin
        .apply(&cached_api(
            "nostore",
            &backend,
            vec![stage("prod", json!({"enabled": true}))],
        ))
        .await;
    let cases: [(&str, &[(&str, &str)]); 4] = [
        ("/prod/stream?mib=2", &[]),
        ("/prod/cookie", &[("x-echo-set", "set-cookie=session=abc")]),
        ("/prod/nostore", &[("x-echo-set", "cache-control=no-store")]),
        ("/prod/status/500", &[]),
    ];
    for (path, headers) in cases {
        let before = backend.hits();
        for _ in 0..2 {
            let reply = send(&node, "nostore", Method::GET, path, headers).await;
            assert_eq!(reply.header("x-cache"), Some("Miss"), "{path}");
            if path.contains("stream") {
                assert_eq!(reply.body.len(), 2 * 1024 * 1024, "streamed through whole");
            }
        }
        assert_eq!(
            backend.hits(),
            before + 2,
            "{path} reached the backend twice"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushing_a_stage_empties_this_nodes_cache_and_a_new_deployment_is_keyed_apart() {
    let (node, backend) = (TestNode::start().await, Backend::start("be").await);
    node.admin
        .apply(&cached_api(
            "flush",
            &backend,
            vec![stage("prod", json!({"enabled": true}))],
        ))
        .await;
    assert_cache(&get(&node, "flush", "/prod/a").await, "Miss");
    assert_cache(&get(&node, "flush", "/prod/a").await, "Hit");

    let (status, body) = node.admin.delete("/apis/flush/stages/prod/cache").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"flushed_nodes": ["node-1"]}));
    assert_cache(&get(&node, "flush", "/prod/a").await, "Miss");
    assert_cache(&get(&node, "flush", "/prod/a").await, "Hit");

    node.admin.deploy("flush", "prod").await;
    assert_cache(&get(&node, "flush", "/prod/a").await, "Miss");
    assert_eq!(backend.hits(), 3);

    let (status, _) = node.admin.delete("/apis/flush/stages/nope/cache").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = node
        .admin
        .delete("/apis/flush/stages/prod/cache?scope=cluster")
        .await;
    // A node that runs alone is the whole cluster.
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"flushed_nodes": ["node-1"]}));
    let (status, _) = node
        .admin
        .delete("/apis/flush/stages/prod/cache?scope=moon")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_cache_settings_are_refused_naming_the_field() {
    let node = TestNode::start().await;
    let backend = Backend::start("be").await;
    node.admin
        .apply(&cached_api("bad", &backend, vec![stage("prod", json!({}))]))
        .await;
    let (status, body) = node
        .admin
        .put(
            "/apis/bad/stages/prod",
            &json!({"name": "prod", "cache": {"enabled": true, "ttl_seconds": 7200}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("stage prod: cache.ttl_seconds: must be <= 3600"),
        "{body}"
    );
}

/// A stage cache holds about its capacity in bytes: filling it to twice that evicts entries
/// (counted as evictions, not expiries), and what it holds never goes much past the capacity
/// (moka applies the bound in batches; the store applies it every eighth of the capacity).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_cache_evicts_and_counts_the_evictions() {
    const CAPACITY: f64 = 64.0 * 1024.0;
    let (node, backend) = (TestNode::start().await, Backend::start("be").await);
    let cache = json!({"enabled": true, "capacity_bytes": CAPACITY as u64});
    node.admin
        .apply(&cached_api("full", &backend, vec![stage("prod", cache)]))
        .await;

    // Each echo answer is a few hundred bytes: 300 of them are about twice the capacity.
    let mut largest = 0.0_f64;
    for i in 0..300 {
        let reply = get(&node, "full", &format!("/prod/items/{i}")).await;
        assert_cache(&reply, "Miss");
        largest = largest.max(reply.body.len() as f64 + 1024.0);
        let held = metric(&node, "edgeway_cache_bytes", "full").await;
        assert!(
            held <= CAPACITY * 9.0 / 8.0 + largest,
            "{held} bytes held after {i}"
        );
    }
    assert!(metric(&node, "edgeway_cache_evictions_total", "full").await > 0.0);
    assert!(metric(&node, "edgeway_cache_bytes", "full").await > 0.0);
    assert_eq!(backend.hits(), 300);
}
