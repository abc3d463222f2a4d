//! Partitions, with gossip and the peer channel in memory so links can be cut: both sides keep
//! taking writes, and once the links heal every node converges to the same state.

use edgeway_tests::cluster::{TestCluster, wait_until};
use edgeway_tests::doc::{http, mock, route};
use serde_json::json;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn writes_on_both_sides_of_a_partition_converge_after_it_heals() {
    let cluster = TestCluster::start_in_memory(&["a", "b", "c"]).await;
    cluster.wait_converged().await;
    cluster.partition(&[0, 1], &[2]).await;
    let (majority, minority) = (&cluster.nodes[0], &cluster.nodes[2]);
    wait_until(LIMIT, "each side sees the other dead", || async {
        let members = minority.admin.get("/cluster/members").await;
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["alive"] == true)
            .count()
            == 1
    })
    .await;

    let api = |name: &str| json!({"id": "shared", "name": name, "kind": "http"});
    majority.admin.put("/apis/shared", &api("majority")).await;
    minority.admin.put("/apis/shared", &api("minority")).await;
    let only = |id: &str| http(id, vec![mock("m", 200, id)], vec![route("GET", "/x", "m")]);
    majority.admin.apply(&only("left")).await;
    minority.admin.apply(&only("right")).await;

    // Still apart: the minority has not seen the majority's API, nor the other way round.
    assert_eq!(minority.get_api("left", "/x").await.status, 404);
    assert_eq!(cluster.nodes[1].get_api("right", "/x").await.status, 404);

    cluster.heal(&[0, 1], &[2]).await;
    cluster.wait_members(3).await;
    cluster.wait_converged().await;
    let mut names = Vec::new();
    for node in &cluster.nodes {
        assert_eq!(node.get_api("left", "/x").await.body, "left");
        assert_eq!(node.get_api("right", "/x").await.body, "right");
        names.push(node.admin.get("/apis/shared").await["name"].clone());
    }
    assert!(names.windows(2).all(|w| w[0] == w[1]), "{names:?}");
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_slow_peer_channel_still_converges() {
    let cluster = TestCluster::start_in_memory(&["a", "b"]).await;
    cluster
        .memory
        .as_ref()
        .unwrap()
        .set_delay(Duration::from_millis(150));
    let doc = http(
        "slow",
        vec![mock("m", 200, "late but here")],
        vec![route("GET", "/x", "m")],
    );
    cluster.nodes[0].admin.apply(&doc).await;
    wait_until(LIMIT, "the write crosses a slow link", || async {
        cluster.nodes[1].get_api("slow", "/x").await.body == "late but here"
    })
    .await;
    cluster.wait_converged().await;
    cluster.shutdown().await;
}
