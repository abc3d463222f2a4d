//! Draining a node: `/ready` turns false at once, new connections are refused, in-flight
//! requests finish, and the cluster sees the node leave.

use edgeway_tests::cluster::{TestCluster, wait_until};
use edgeway_tests::doc::{http, proxy, route};
use edgeway_tests::{Backend, Conn, Proto, TestNode, api_host, get};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn drain_refuses_new_connections_and_lets_in_flight_requests_finish() {
    let node = TestNode::start().await;
    let backend = Backend::start("slow").await;
    let doc = http(
        "slowpoke",
        vec![proxy("b", &backend.url("/slow?ms=1500"))],
        vec![route("GET", "/", "b")],
    );
    node.admin.apply(&doc).await;

    let mut conn = node.conn(Proto::Http1).await;
    let in_flight = tokio::spawn(async move { conn.fetch(get(&api_host("slowpoke"), "/")).await });
    backend.wait_slow(1).await;

    let (status, body) = node.admin.post("/drain", &serde_json::json!({})).await;
    assert_eq!(status, 202, "{body}");
    let ready = node
        .admin
        .call_with(http::Method::GET, "/ready", None, None)
        .await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["status"], "draining");

    let public = node.public_addr();
    wait_until(LIMIT, "new connections are refused", || async {
        Conn::open(public, Proto::Http1).await.is_err()
    })
    .await;
    let finished = in_flight.await.unwrap();
    assert_eq!(finished.status, 200, "the in-flight request finished");
    node.shutdown().await;
}

#[tokio::test]
async fn peers_see_a_draining_node_leave() {
    let cluster = TestCluster::start(&["a", "b"]).await;
    let (status, _) = cluster.nodes[1]
        .admin
        .post("/drain", &serde_json::json!({}))
        .await;
    assert_eq!(status, 202);
    let first = &cluster.nodes[0];
    wait_until(LIMIT, "node-2 is shown leaving, then dead", || async {
        let members = first.admin.get("/cluster/members").await;
        members["members"].as_array().unwrap().iter().any(|m| {
            m["id"] == "node-2"
                && m["alive"] == false
                && (m["health"] == "left" || m["health"] == "draining")
        })
    })
    .await;
    cluster.shutdown().await;
}
