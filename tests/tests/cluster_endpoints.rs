//! Endpoint types across regions, with real nodes: a regional API asked at a node of another
//! region is answered through a home-region node (the backend sees one request), or 421 when
//! the API says so, or 503 when its region has no live node; a private API is refused on the
//! public listener and served on the private one.

use edgeway_tests::cluster::TestCluster;
use edgeway_tests::doc::{proxy, route};
use edgeway_tests::{Backend, Conn, Proto, TestNode, api_host, request};
use http::Method;
use serde_json::{Value, json};

fn regional(id: &str, home: &str, backend: &Backend, outside_home: &str) -> Value {
    json!({
        "api": {
            "id": id, "name": id, "kind": "http",
            "endpoint_type": "regional", "home_region": home, "outside_home": outside_home,
        },
        "integrations": [proxy("b", &backend.url("/{proxy}"))],
        "routes": [route("ANY", "/{proxy+}", "b")],
        "stages": [{ "name": "$default", "auto_deploy": true }],
    })
}

async fn wait_everywhere(cluster: &TestCluster, api: &str) {
    cluster.wait_converged().await;
    for node in &cluster.nodes {
        let answer = node.admin.get(&format!("/apis/{api}")).await;
        assert_eq!(answer["id"], api);
    }
}

#[tokio::test]
async fn a_regional_api_asked_outside_its_region_is_answered_by_a_home_node() {
    let cluster = TestCluster::start(&["us-east", "eu-west"]).await;
    let backend = Backend::start("eu-backend").await;
    cluster.nodes[0]
        .admin
        .apply(&regional("orders", "eu-west", &backend, "forward"))
        .await;
    wait_everywhere(&cluster, "orders").await;

    let us = &cluster.nodes[0];
    let post = request(Method::POST, &api_host("orders"), "/orders/7?x=1")
        .header("content-type", "text/plain")
        .body(edgeway_tests::client::full("forty-two"))
        .unwrap();
    let reply = us.send(Proto::Http1, post).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let echo = reply.json();
    assert_eq!(echo["backend"], "eu-backend");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/orders/7");
    assert_eq!(echo["query"], "x=1");
    assert_eq!(echo["body"], "forty-two");
    assert_eq!(backend.hits(), 1, "the backend sees exactly one request");
    assert!(
        echo["headers"].get("x-edgeway-forward-secret").is_none(),
        "{echo}"
    );

    // h2c at the first node works the same (no Host header, only :authority).
    let mut conn = Conn::open(us.public_addr(), Proto::H2c).await.unwrap();
    let reply = conn
        .fetch(edgeway_tests::get(&api_host("orders"), "/ping"))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(backend.hits(), 2);
    cluster.shutdown().await;
}

#[tokio::test]
async fn regional_apis_answer_421_when_told_and_503_without_a_live_home_node() {
    let cluster = TestCluster::start(&["us-east", "eu-west"]).await;
    let backend = Backend::start("b").await;
    let admin = &cluster.nodes[1].admin;
    admin
        .apply(&regional("strict", "eu-west", &backend, "misdirected"))
        .await;
    admin
        .apply(&regional("orphan", "ap-south", &backend, "forward"))
        .await;
    wait_everywhere(&cluster, "orphan").await;
    let us = &cluster.nodes[0];
    let strict = us.get_api("strict", "/x").await;
    assert_eq!(strict.status, 421, "{:?}", strict.body);
    assert!(String::from_utf8_lossy(&strict.body).contains("eu-west"));
    let at_home = cluster.nodes[1].get_api("strict", "/x").await;
    assert_eq!(at_home.status, 200);
    let orphan = us.get_api("orphan", "/x").await;
    assert_eq!(orphan.status, 503, "{:?}", orphan.body);
    assert!(String::from_utf8_lossy(&orphan.body).contains("ap-south"));
    assert_eq!(
        backend.hits(),
        1,
        "only the home-region request reached the backend"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_private_api_is_served_only_on_the_private_listener_or_to_its_networks() {
    let node = TestNode::start_with(|config, _| {
        config.private.listen = Some(([127, 0, 0, 1], 0).into());
    })
    .await;
    let backend = Backend::start("inside").await;
    let doc = |id: &str, networks: Value| {
        json!({
            "api": { "id": id, "name": id, "kind": "http",
                     "endpoint_type": "private", "private_networks": networks },
            "integrations": [proxy("b", &backend.url("/x"))],
            "routes": [route("GET", "/x", "b")],
            "stages": [{ "name": "$default", "auto_deploy": true }],
        })
    };
    node.admin.apply(&doc("vault", json!([]))).await;
    node.admin.apply(&doc("lan", json!(["127.0.0.0/8"]))).await;

    let public = node.get_api("vault", "/x").await;
    assert_eq!(public.status, 403, "{:?}", public.body);
    assert_eq!(public.headers["x-amzn-errortype"], "ACCESS_DENIED");
    let private_addr = node.node().private_addr().unwrap();
    let mut conn = Conn::open(private_addr, Proto::Http1).await.unwrap();
    let private = conn
        .fetch(edgeway_tests::get(&api_host("vault"), "/x"))
        .await;
    assert_eq!(private.status, 200);
    // Loopback is in lan's private networks, so the public listener serves it too.
    assert_eq!(node.get_api("lan", "/x").await.status, 200);
    assert_eq!(backend.hits(), 2);
    node.shutdown().await;
}
