//! `edgewayctl cluster` and `dns` against three real nodes (UDP gossip, QUIC peers) whose peer
//! certificates were made by `edgewayctl certs`: so the certificates are also shown to work
//! with the peer channel's mutual TLS.

mod common;

use common::{Ctl, path_str};
use edgeway_tests::TestNode;
use edgeway_tests::cluster::{cluster_section, wait_until};
use serde_json::Value;
use std::time::Duration;

/// Starts `node-{n}` in `region`, joining through `seeds`, with the CLI-made certificates.
async fn start(n: usize, region: &str, certs: &std::path::Path, seeds: Vec<String>) -> TestNode {
    let id = format!("node-{n}");
    TestNode::start_with(|config, dir| {
        config.node.id = id.clone();
        config.node.region = region.to_string();
        let ca = edgeway_tests::TestCa::new("unused");
        let mut section = cluster_section(&ca, &id, dir, seeds);
        section.ca = certs.join("ca/ca.pem");
        section.cert = certs.join(format!("nodes/{id}.pem"));
        section.key = certs.join(format!("nodes/{id}.key"));
        config.cluster = Some(section);
    })
    .await
}

fn gossip(node: &TestNode) -> String {
    let cluster = node
        .try_node()
        .and_then(|n| n.cluster())
        .expect("cluster on");
    cluster.gossip_addr().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_status_and_dns_of_a_three_region_cluster_made_with_cli_certificates() {
    let certs = tempfile::tempdir().expect("temp dir");
    let tool = Ctl {
        addr: String::new(),
        token: String::new(),
        dir: tempfile::tempdir().unwrap(),
    };
    let ca_dir = path_str(&certs.path().join("ca"));
    let nodes_dir = path_str(&certs.path().join("nodes"));
    tool.run(&["certs", "init", "--out", &ca_dir]).await.ok();
    for id in ["node-1", "node-2", "node-3"] {
        let issue = [
            "certs",
            "issue",
            "--ca",
            &ca_dir,
            "--node-id",
            id,
            "--out",
            &nodes_dir,
            "--san",
            "127.0.0.1",
        ];
        tool.run(&issue).await.ok();
    }
    let first = start(1, "us-east", certs.path(), vec![]).await;
    let second = start(2, "us-east", certs.path(), vec![gossip(&first)]).await;
    let third = start(3, "eu-west", certs.path(), vec![gossip(&first)]).await;
    let ctl = Ctl::for_node(&first);

    // A write on node 1 reaches the others over the peer channel (mutual TLS with these certs).
    let api = ctl.file("api.yaml", "id: pets\nname: Pets\nkind: rest\n");
    ctl.run(&["create", "apis", "-f", &api]).await.ok();
    let on_third = Ctl::for_node(&third);
    wait_until(Duration::from_secs(20), "node-3 has the API", || async {
        on_third.run(&["get", "apis", "pets"]).await.code == 0
    })
    .await;
    wait_until(
        Duration::from_secs(20),
        "all three nodes are ready",
        || async {
            let dns = ctl.run(&["dns", "--format", "json", "--allow-empty"]).await;
            let json: Value = serde_json::from_str(&dns.stdout).unwrap_or_default();
            json["regions"]["us-east"]["nodes"].as_array().map(Vec::len) == Some(2)
                && json["regions"]["eu-west"]["nodes"].as_array().map(Vec::len) == Some(1)
        },
    )
    .await;

    let members = ctl.run(&["cluster", "members", "-o", "json"]).await.json();
    let ids: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 3, "{members}");
    assert!(
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["alive"] == true)
    );
    let table = ctl.run(&["cluster", "members"]).await;
    let rows: Vec<&str> = table.ok().lines().collect();
    assert!(
        rows[0].starts_with("ID") && rows[0].contains("REGION") && rows.len() == 4,
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("node-3") && r.contains("eu-west")),
        "{rows:?}"
    );
    wait_until(Duration::from_secs(20), "the cluster converges", || async {
        ctl.run(&["cluster", "status", "-o", "json"]).await.json()["converged"] == true
    })
    .await;
    let status = ctl.run(&["cluster", "status"]).await;
    assert!(status.ok().contains("live_members") && status.stdout.contains("node-1"));

    let zone = ctl
        .run(&["dns", "--zone", "api.example.com", "--ttl", "30"])
        .await;
    let bind = zone.ok();
    assert!(
        bind.contains(
            "; us-east: node-1, node-2\nus-east.api.example.com.\t30\tIN\tA\t127.0.0.1\n"
        ),
        "{bind}"
    );
    assert!(
        bind.contains("; eu-west: node-3\neu-west.api.example.com.\t30\tIN\tA\t127.0.0.1\n"),
        "{bind}"
    );

    // Node 3 stops: once the others see it gone, eu-west has no record set any more.
    third.shutdown().await;
    wait_until(
        Duration::from_secs(30),
        "node-3 leaves the records",
        || async {
            ctl.run(&["dns"])
                .await
                .stdout
                .contains("; eu-west: no healthy node, no records")
        },
    )
    .await;
    second.shutdown().await;
    first.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_a_cluster_says_so() {
    let node = TestNode::start().await;
    let ctl = Ctl::for_node(&node);
    ctl.run(&["cluster", "members"])
        .await
        .fails(5, "runs alone");
    ctl.run(&["cluster", "status"]).await.fails(5, "runs alone");
    ctl.run(&["dns"]).await.fails(5, "runs alone");
    node.shutdown().await;
}
