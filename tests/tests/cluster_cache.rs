//! The response cache across a cluster: a stage flush with `scope=cluster` empties the stage's
//! cache on every live node (the answer names them), and a regional API is cached only where
//! it is served, at its home region.

use edgeway_tests::cluster::TestCluster;
use edgeway_tests::doc::{proxy, route};
use edgeway_tests::{Backend, TestNode};
use http::StatusCode;
use serde_json::{Value, json};

fn cached(backend: &Backend, api: Value) -> Value {
    json!({
        "api": api,
        "integrations": [proxy("b", &backend.url("/item"))],
        "routes": [route("GET", "/item", "b")],
        "stages": [{ "name": "$default", "auto_deploy": true,
                     "cache": { "enabled": true, "ttl_seconds": 300 } }],
    })
}

async fn hit_each(nodes: &[TestNode], api: &str) {
    for node in nodes {
        assert_eq!(node.get_api(api, "/item").await.status, 200);
    }
}

#[tokio::test]
async fn a_cluster_wide_flush_empties_the_stage_cache_on_every_node() {
    let cluster = TestCluster::start(&["a", "b", "c"]).await;
    let backend = Backend::start("origin").await;
    let api = json!({ "id": "items", "name": "items", "kind": "http" });
    cluster.nodes[0].admin.apply(&cached(&backend, api)).await;
    cluster.wait_converged().await;

    hit_each(&cluster.nodes, "items").await;
    assert_eq!(backend.hits(), 3, "each node fills its own cache");
    hit_each(&cluster.nodes, "items").await;
    assert_eq!(backend.hits(), 3, "then answers from it");

    let (status, answer) = cluster.nodes[1]
        .admin
        .call(
            http::Method::DELETE,
            "/apis/items/stages/$default/cache?scope=cluster",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut flushed: Vec<&str> = (answer["flushed_nodes"].as_array().unwrap().iter())
        .map(|n| n.as_str().unwrap())
        .collect();
    flushed.sort();
    assert_eq!(flushed, ["node-1", "node-2", "node-3"]);
    hit_each(&cluster.nodes, "items").await;
    assert_eq!(backend.hits(), 6, "every node asked the backend again");

    // Without scope=cluster only the node asked flushes.
    let (_, answer) = cluster.nodes[2]
        .admin
        .call(
            http::Method::DELETE,
            "/apis/items/stages/$default/cache",
            None,
        )
        .await;
    assert_eq!(answer["flushed_nodes"], json!(["node-3"]));
    hit_each(&cluster.nodes, "items").await;
    assert_eq!(backend.hits(), 7);
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_regional_api_is_cached_only_at_its_home_region() {
    let cluster = TestCluster::start(&["us-east", "eu-west"]).await;
    let backend = Backend::start("origin").await;
    let api = json!({ "id": "r", "name": "r", "kind": "http",
                      "endpoint_type": "regional", "home_region": "eu-west" });
    cluster.nodes[0].admin.apply(&cached(&backend, api)).await;
    cluster.wait_converged().await;
    let (us, eu) = (&cluster.nodes[0], &cluster.nodes[1]);
    for _ in 0..3 {
        assert_eq!(us.get_api("r", "/item").await.status, 200);
    }
    assert_eq!(eu.get_api("r", "/item").await.headers["x-cache"], "Hit");
    assert_eq!(
        backend.hits(),
        1,
        "one cache, at home, served every request"
    );
    // Empty the home node's cache: if the forwarding node kept a copy, it would still answer
    // without the backend; it has none, so the request goes home and home asks the backend.
    let (status, _) = eu
        .admin
        .call(http::Method::DELETE, "/apis/r/stages/$default/cache", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(us.get_api("r", "/item").await.status, 200);
    assert_eq!(backend.hits(), 2, "the forwarding node cached nothing");
    cluster.shutdown().await;
}
