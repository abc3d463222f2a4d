//! A cluster of real nodes on loopback (UDP gossip, QUIC peer channel with mutual TLS):
//! changes spread, dead nodes show, restarted nodes catch up before they are ready,
//! conflicting writes converge, deletes stay deleted, and forged or garbage traffic changes
//! nothing.

use edgeway_tests::cluster::{TestCluster, alive, wait_until};
use edgeway_tests::doc::{http, mock, route};
use edgeway_tests::{TestCa, TestNode};
use serde_json::{Value, json};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(15);

fn hello(api: &str, body: &str) -> Value {
    http(
        api,
        vec![mock("m", 200, body)],
        vec![route("GET", "/hello", "m")],
    )
}

async fn serves(node: &TestNode, api: &str, body: &str) -> bool {
    let reply = node.get_api(api, "/hello").await;
    reply.status == 200 && reply.body == body.as_bytes()
}

async fn wait_served(node: &TestNode, api: &str, body: &str) {
    wait_until(LIMIT, &format!("{api} answers {body}"), || {
        serves(node, api, body)
    })
    .await;
}

#[tokio::test]
async fn a_change_on_any_node_is_served_by_every_node() {
    let cluster = TestCluster::start(&["us-east", "eu-west", "ap-south"]).await;
    cluster.nodes[0]
        .admin
        .apply(&hello("pets", "from one"))
        .await;
    cluster.nodes[2]
        .admin
        .apply(&hello("cats", "from three"))
        .await;
    for node in &cluster.nodes {
        wait_served(node, "pets", "from one").await;
        wait_served(node, "cats", "from three").await;
    }
    cluster.wait_converged().await;
    let members = cluster.nodes[1].admin.get("/cluster/members").await;
    assert_eq!(alive(&members), 3, "{members}");
    let regions: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["region"].as_str().unwrap())
        .collect();
    assert_eq!(regions, ["us-east", "eu-west", "ap-south"]);
    for m in members["members"].as_array().unwrap() {
        assert!(
            m["addresses"]["peer"].is_string() && m["addresses"]["public"].is_string(),
            "{m}"
        );
        assert_eq!(m["health"], "ready", "{m}");
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_stopped_node_shows_dead_and_catches_up_before_it_is_ready() {
    let mut cluster = TestCluster::start(&["us-east", "us-east", "eu-west"]).await;
    cluster.nodes[2].stop().await;
    let first = &cluster.nodes[0];
    wait_until(LIMIT, "node-3 is shown dead", || async {
        let members = first.admin.get("/cluster/members").await;
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "node-3" && m["alive"] == false)
    })
    .await;
    let status = first.admin.get("/cluster/status").await;
    assert_eq!(status["dead_members"], 1, "{status}");

    // Written while node-3 is down; it must hold it before it says it is ready.
    first
        .admin
        .apply(&hello("late", "written while away"))
        .await;
    cluster.restart(2).await;
    let node = &cluster.nodes[2];
    node.admin.wait_ready().await;
    let objects = node.admin.get("/objects").await;
    let has_late = objects["objects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["object"]["api"]["id"] == "late");
    assert!(has_late, "ready before catching up: {objects}");
    assert!(serves(node, "late", "written while away").await);
    cluster.shutdown().await;
}

#[tokio::test]
async fn concurrent_conflicting_writes_converge_to_one_value_everywhere() {
    let cluster = TestCluster::start(&["a", "b", "c"]).await;
    let (one, two) = (&cluster.nodes[0], &cluster.nodes[1]);
    let first = json!({"id": "same", "name": "from-one", "kind": "http"});
    let second = json!({"id": "same", "name": "from-two", "kind": "http"});
    let a = one.admin.put("/apis/same", &first);
    let b = two.admin.put("/apis/same", &second);
    let (a, b) = tokio::join!(a, b);
    assert!(a.0.is_success() && b.0.is_success(), "{a:?} {b:?}");
    cluster.wait_converged().await;
    let mut names = Vec::new();
    for node in &cluster.nodes {
        names.push(node.admin.get("/apis/same").await["name"].clone());
    }
    assert!(names.windows(2).all(|w| w[0] == w[1]), "{names:?}");
    assert!(names[0] == "from-one" || names[0] == "from-two");
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_delete_spreads_and_does_not_come_back_when_a_node_that_missed_it_rejoins() {
    let mut cluster = TestCluster::start(&["a", "b", "c"]).await;
    cluster.nodes[0]
        .admin
        .apply(&hello("doomed", "still here"))
        .await;
    cluster.wait_converged().await;
    cluster.nodes[2].stop().await;
    let (status, body) = cluster.nodes[0].admin.delete("/apis/doomed").await;
    assert!(status.is_success(), "{body}");
    wait_until(LIMIT, "node-2 drops the API", || async {
        cluster.nodes[1].get_api("doomed", "/hello").await.status != 200
    })
    .await;
    cluster.restart(2).await;
    cluster.nodes[2].admin.wait_ready().await;
    cluster.wait_converged().await;
    for node in &cluster.nodes {
        let (status, _) = node
            .admin
            .call(http::Method::GET, "/apis/doomed", None)
            .await;
        assert_eq!(status, 404, "the deleted API came back");
        assert_ne!(node.get_api("doomed", "/hello").await.status, 200);
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn forged_gossip_from_a_node_outside_the_cluster_ca_changes_nothing() {
    let cluster = TestCluster::start(&["a", "b"]).await;
    cluster.nodes[0]
        .admin
        .apply(&hello("real", "genuine"))
        .await;
    cluster.wait_converged().await;
    // A real Edgeway node with the right cluster id and valid chitchat framing, but a
    // certificate from another CA: its gossip claims newer state; pulling from it must fail
    // the mutual TLS handshake and change nothing.
    let rogue_ca = TestCa::new("not the cluster CA");
    let seeds = cluster.gossip_addrs();
    let rogue = TestNode::start_with(|config, dir| {
        config.node.id = "rogue".into();
        config.cluster = Some(edgeway_tests::cluster::cluster_section(
            &rogue_ca, "rogue", dir, seeds,
        ));
    })
    .await;
    rogue.admin.apply(&hello("real", "forged")).await;
    rogue.admin.apply(&hello("evil", "planted")).await;
    let first = &cluster.nodes[0];
    wait_until(LIMIT, "the rogue is seen through gossip", || async {
        let members = first.admin.get("/cluster/members").await;
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "rogue")
    })
    .await;
    wait_until(
        LIMIT,
        "a pull from the rogue was tried and failed",
        || async {
            let metrics = first.admin.get_text("/metrics").await;
            metric(&metrics, "edgeway_peer_handshake_failures_total") > 0.0
                || metric(&metrics, "edgeway_cluster_sync_failures_total") > 0.0
        },
    )
    .await;
    for node in &cluster.nodes {
        assert!(serves(node, "real", "genuine").await);
        let planted = node.get_api("evil", "/hello").await;
        assert_eq!(planted.status, 404, "{:?}", planted.body);
    }
    rogue.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn garbage_on_the_gossip_and_peer_ports_is_dropped_without_harm() {
    let cluster = TestCluster::start(&["a", "b"]).await;
    let target = cluster.nodes[0].node().cluster().unwrap();
    let gossip = target.gossip_addr();
    let members = cluster.nodes[0].admin.get("/cluster/members").await;
    let peer: std::net::SocketAddr = members["members"][0]["addresses"]["peer"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut junk = vec![0u8; 1200];
    for i in 0..200u32 {
        for (j, b) in junk.iter_mut().enumerate() {
            *b = (i.wrapping_mul(31).wrapping_add(j as u32 * 7) % 251) as u8;
        }
        let len = 1 + (i as usize * 37) % junk.len();
        socket.send_to(&junk[..len], gossip).await.unwrap();
        socket.send_to(&junk[..len], peer).await.unwrap();
    }
    // Both nodes still gossip and replicate.
    cluster.nodes[1]
        .admin
        .apply(&hello("after", "still fine"))
        .await;
    wait_served(&cluster.nodes[0], "after", "still fine").await;
    cluster.wait_members(2).await;
    cluster.shutdown().await;
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
