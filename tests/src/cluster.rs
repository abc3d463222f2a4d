//! Clusters of in-process nodes on loopback: real UDP gossip and QUIC peers with a generated
//! cluster CA, or both in memory so a test can cut links.

use crate::certs::TestCa;
use crate::node::TestNode;
use edgeway::Networks;
use edgeway::config::ClusterSection;
use edgeway::peer::memory::MemoryNetwork;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub const CLUSTER_ID: &str = "edgeway-test";

/// A `[cluster]` section for `node_id` with certificates from `ca` written under `dir`.
pub fn cluster_section(
    ca: &TestCa,
    node_id: &str,
    dir: &Path,
    seeds: Vec<String>,
) -> ClusterSection {
    let leaf = ca.peer_leaf(node_id);
    let (cert, key) = leaf.write(dir, &format!("peer-{node_id}"));
    let ca_path = dir.join("cluster-ca.pem");
    std::fs::write(&ca_path, &ca.cert_pem).expect("write cluster CA");
    ClusterSection {
        id: CLUSTER_ID.into(),
        gossip: ([127, 0, 0, 1], 0).into(),
        gossip_advertise: None,
        peer: ([127, 0, 0, 1], 0).into(),
        peer_advertise: None,
        seeds,
        ca: ca_path,
        cert,
        key,
        gossip_interval_ms: 100,
        failure_phi: 6.0,
        dead_grace_secs: 600,
        join_timeout_ms: 3_000,
        sync_interval_ms: 2_000,
        peer_timeout_ms: 2_000,
    }
}

/// Changes every node's `[cluster]` section before it starts.
pub type Tune = Arc<dyn Fn(&mut ClusterSection) + Send + Sync>;

pub struct TestCluster {
    pub nodes: Vec<TestNode>,
    pub ca: TestCa,
    pub networks: Networks,
    /// The in-memory peer network, when the cluster runs in memory.
    pub memory: Option<MemoryNetwork>,
    tune: Tune,
}

impl TestCluster {
    /// `regions.len()` nodes over real UDP and QUIC; node i is `node-{i+1}`.
    pub async fn start(regions: &[&str]) -> TestCluster {
        TestCluster::start_on(Networks::default(), regions, Arc::new(|_| {})).await
    }

    /// Nodes whose gossip and peer channel run in memory.
    pub async fn start_in_memory(regions: &[&str]) -> TestCluster {
        TestCluster::start_in_memory_with(regions, Arc::new(|_| {})).await
    }

    /// In memory, with every node's `[cluster]` section changed by `tune`.
    pub async fn start_in_memory_with(regions: &[&str], tune: Tune) -> TestCluster {
        let memory = MemoryNetwork::default();
        let networks = Networks {
            gossip: Some(chitchat::transport::ChannelTransport::default()),
            peers: Some(memory.clone()),
        };
        let mut cluster = TestCluster::start_on(networks, regions, tune).await;
        cluster.memory = Some(memory);
        cluster
    }

    async fn start_on(networks: Networks, regions: &[&str], tune: Tune) -> TestCluster {
        let mut cluster = TestCluster {
            nodes: Vec::new(),
            ca: TestCa::new("Edgeway test cluster CA"),
            networks,
            memory: None,
            tune,
        };
        for region in regions {
            cluster.add(region).await;
        }
        cluster.wait_members(regions.len()).await;
        // As an operator's rollout would: every node has caught up and answers /ready 200.
        for node in cluster.running() {
            node.admin.wait_ready().await;
        }
        cluster
    }

    /// Starts one more node that joins through the first node.
    pub async fn add(&mut self, region: &str) -> &TestNode {
        let id = format!("node-{}", self.nodes.len() + 1);
        let seeds: Vec<String> = self.gossip_addrs();
        let ca = &self.ca;
        let tune = self.tune.clone();
        let node = TestNode::start_on(self.networks.clone(), |config, dir| {
            config.node.id = id.clone();
            config.node.region = region.to_string();
            let mut section = cluster_section(ca, &id, dir, seeds);
            tune(&mut section);
            config.cluster = Some(section);
        })
        .await;
        self.nodes.push(node);
        self.nodes.last().expect("just pushed")
    }

    /// Gossip addresses of the running nodes (seeds for a joining or restarting node).
    pub fn gossip_addrs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter_map(|n| n.try_node())
            .filter_map(|n| n.cluster())
            .map(|c| c.gossip_addr().to_string())
            .collect()
    }

    /// Restarts a stopped node with the running nodes as seeds.
    pub async fn restart(&mut self, index: usize) {
        let seeds = self.gossip_addrs();
        let node = &mut self.nodes[index];
        if let Some(cluster) = node.config.cluster.as_mut() {
            cluster.seeds = seeds;
        }
        node.try_start_again().await.expect("node restarts");
    }

    /// Waits until every running node sees `n` live members.
    pub async fn wait_members(&self, n: usize) {
        for node in self.running() {
            wait_until(
                Duration::from_secs(15),
                "every node sees all members alive",
                || async {
                    let members = node.admin.get("/cluster/members").await;
                    alive(&members) == n
                },
            )
            .await;
        }
    }

    /// Waits until every running node holds the same state as every live peer.
    pub async fn wait_converged(&self) {
        for node in self.running() {
            wait_until(Duration::from_secs(15), "cluster converges", || async {
                node.admin.get("/cluster/status").await["converged"] == true
            })
            .await;
        }
        let digests: Vec<Value> = {
            let mut all = Vec::new();
            for node in self.running() {
                all.push(node.admin.get("/cluster/status").await["digest"].clone());
            }
            all
        };
        assert!(
            digests.windows(2).all(|w| w[0] == w[1]),
            "digests differ: {digests:?}"
        );
    }

    /// Cuts every gossip and peer link between the two groups of nodes (in-memory clusters).
    pub async fn partition(&self, a: &[usize], b: &[usize]) {
        self.links(a, b, false).await;
    }

    /// Restores the links [`TestCluster::partition`] cut.
    pub async fn heal(&self, a: &[usize], b: &[usize]) {
        self.links(a, b, true).await;
    }

    async fn links(&self, a: &[usize], b: &[usize], up: bool) {
        let gossip = self.networks.gossip.as_ref().expect("an in-memory cluster");
        let peers = self.memory.as_ref().expect("an in-memory cluster");
        let addr = |i: usize| {
            self.nodes[i]
                .node()
                .cluster()
                .expect("in a cluster")
                .gossip_addr()
        };
        for &i in a {
            for &j in b {
                let (x, y) = (&self.nodes[i].config.node.id, &self.nodes[j].config.node.id);
                if up {
                    gossip.add_link(addr(i), addr(j)).await;
                    peers.heal(x, y);
                } else {
                    gossip.remove_link(addr(i), addr(j)).await;
                    peers.cut(x, y);
                }
            }
        }
    }

    pub fn running(&self) -> impl Iterator<Item = &TestNode> {
        self.nodes.iter().filter(|n| n.try_node().is_some())
    }

    pub async fn shutdown(self) {
        for node in self.nodes {
            node.shutdown().await;
        }
    }
}

/// Live members in a `/cluster/members` answer.
pub fn alive(members: &Value) -> usize {
    members["members"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["alive"] == true).count())
        .unwrap_or(0)
}

/// Polls `check` every 25 ms until it holds; panics naming `what` after `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
