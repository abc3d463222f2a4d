//! Deletes are tombstones, collected only after every member holds them: collected everywhere
//! once all nodes have the delete, kept while a cut-off member lacks it, gone for good across
//! a restart, and a node that was away longer than the dead-node grace does not bring a
//! collected object back. Gossip and the peer channel run in memory so links can be cut.

use edgeway_tests::TestNode;
use edgeway_tests::cluster::{TestCluster, wait_until};
use edgeway_tests::doc::{http, mock, route};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

async fn create_doomed(cluster: &TestCluster) {
    let doc = http(
        "doomed",
        vec![mock("m", 200, "still here")],
        vec![route("GET", "/x", "m")],
    );
    cluster.nodes[0].admin.apply(&doc).await;
    cluster.wait_converged().await;
}

async fn status(node: &TestNode) -> Value {
    node.admin.get("/cluster/status").await
}

async fn tombstones(node: &TestNode) -> u64 {
    status(node).await["tombstones"].as_u64().unwrap_or(0)
}

/// Waits until every running node holds no tombstone and has recorded a collection.
async fn wait_collected(cluster: &TestCluster) {
    for node in cluster.running() {
        wait_until(LIMIT, "the tombstones are collected", || async {
            let status = status(node).await;
            status["tombstones"] == 0 && status["gc_floor"].is_string()
        })
        .await;
    }
}

/// The deleted API is gone from the node: no object, no route, not in `/objects`.
async fn assert_gone(node: &TestNode) {
    let (status, _) = node
        .admin
        .call(http::Method::GET, "/apis/doomed", None)
        .await;
    assert_eq!(status, 404, "the deleted API came back");
    assert_eq!(node.get_api("doomed", "/x").await.status, 404);
    let objects = node.admin.get("/objects").await.to_string();
    assert!(!objects.contains("doomed"), "{objects}");
}

#[tokio::test]
async fn a_delete_every_node_holds_is_collected_everywhere_and_stays_gone_after_a_restart() {
    let mut cluster = TestCluster::start_in_memory(&["a", "b", "c"]).await;
    create_doomed(&cluster).await;
    let (status, body) = cluster.nodes[1].admin.delete("/apis/doomed").await;
    assert!(status.is_success(), "{body}");
    wait_collected(&cluster).await;
    cluster.wait_converged().await;
    for node in &cluster.nodes {
        assert_gone(node).await;
    }
    // The collection is on disk: a restarted node neither holds the tombstones nor the API.
    cluster.nodes[0].restart().await;
    cluster.nodes[0].admin.wait_ready().await;
    assert_eq!(tombstones(&cluster.nodes[0]).await, 0);
    assert_gone(&cluster.nodes[0]).await;
    cluster.wait_converged().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_delete_is_kept_while_a_cut_off_member_lacks_it_and_collected_once_it_has_it() {
    let cluster = TestCluster::start_in_memory(&["a", "b", "c"]).await;
    create_doomed(&cluster).await;
    cluster.partition(&[0, 1], &[2]).await;
    wait_until(LIMIT, "node-1 sees node-3 dead", || async {
        status(&cluster.nodes[0]).await["dead_members"] == 1
    })
    .await;
    let (status_code, body) = cluster.nodes[0].admin.delete("/apis/doomed").await;
    assert!(status_code.is_success(), "{body}");
    wait_until(LIMIT, "node-2 has the delete", || async {
        cluster.nodes[1].get_api("doomed", "/x").await.status == 404
    })
    .await;

    // Several complete rounds on both sides of the majority: enough to collect, were node-3
    // not still a member that lacks the delete.
    let majority = &cluster.nodes[..2];
    let mut rounds = Vec::new();
    for node in majority {
        rounds.push(status(node).await["sync_rounds"].as_u64().unwrap());
    }
    for (node, before) in majority.iter().zip(rounds) {
        wait_until(LIMIT, "three more complete sync rounds", || async {
            status(node).await["sync_rounds"].as_u64().unwrap() >= before + 3
        })
        .await;
    }
    for node in majority {
        assert!(
            tombstones(node).await > 0,
            "collected while node-3 lacks it"
        );
    }
    assert_eq!(
        cluster.nodes[2].get_api("doomed", "/x").await.body,
        "still here"
    );

    cluster.heal(&[0, 1], &[2]).await;
    cluster.wait_members(3).await;
    wait_collected(&cluster).await;
    for node in &cluster.nodes {
        assert_gone(node).await;
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_node_away_longer_than_the_grace_does_not_bring_a_collected_object_back() {
    let short_grace = Arc::new(|c: &mut edgeway::config::ClusterSection| c.dead_grace_secs = 10);
    let mut cluster = TestCluster::start_in_memory_with(&["a", "b", "c"], short_grace).await;
    create_doomed(&cluster).await;
    cluster.nodes[2].stop().await;
    let (status_code, body) = cluster.nodes[0].admin.delete("/apis/doomed").await;
    assert!(status_code.is_success(), "{body}");
    // Collected only once node-3 is forgotten (dead for longer than the 10 s grace).
    wait_until(Duration::from_secs(60), "node-3 is forgotten", || async {
        let members = cluster.nodes[0].admin.get("/cluster/members").await;
        members["members"].as_array().unwrap().len() == 2
    })
    .await;
    wait_collected(&cluster).await;

    // node-3 still holds the API; it restarts stale and must take its peers' state.
    cluster.restart(2).await;
    let node = &cluster.nodes[2];
    node.admin.wait_ready().await;
    wait_until(LIMIT, "node-3 settles", || async {
        status(node).await["settled"] == true
    })
    .await;
    cluster.wait_members(3).await;
    cluster.wait_converged().await;
    for node in &cluster.nodes {
        assert_gone(node).await;
    }
    cluster.shutdown().await;
}
