//! Convergence of a simulated cluster (BENCHMARKS.md, "Cluster convergence"): NODES real
//! Edgeway nodes in one process, gossip over chitchat's in-memory `ChannelTransport` and the
//! peer channel over Edgeway's in-memory network (same frames as QUIC; an optional delay per
//! call each way stands in for distance). Gossip runs at the default interval (200 ms).
//!
//! Each repetition writes a new version of one API through the admin API of a rotating node
//! and records, per node, the moment its own change notification shows that version (the
//! snapshot it serves from is swapped before the notification fires). The figure is the time
//! from the acknowledgement until the last node has it.
//!
//! Usage: cluster_sim [NODES=50] [REPS=20] [PEER_DELAY_MS=0]
//!   cargo run --release -p edgeway-tests --example cluster_sim -- 100 20

use anyhow::Context;
use edgeway::Networks;
use edgeway::control::Control;
use edgeway::peer::memory::MemoryNetwork;
use edgeway_tests::cluster::cluster_section;
use edgeway_tests::{TestCa, TestNode};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const REGIONS: [&str; 3] = ["us-east", "eu-west", "ap-south"];
const API: &str = "sim";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arg = |i: usize, default: u64| -> anyhow::Result<u64> {
        std::env::args()
            .nth(i)
            .map_or(Ok(default), |a| a.parse().context("arguments are numbers"))
    };
    let (count, reps, delay_ms) = (arg(1, 50)? as usize, arg(2, 20)?, arg(3, 0)?);
    anyhow::ensure!(count >= 2 && reps >= 1, "at least 2 nodes and 1 repetition");
    println!("load average before: {}", load_average());

    let started = Instant::now();
    let nodes = start_nodes(count, delay_ms).await;
    let formed = wait_formed(&nodes).await?;
    println!(
        "{count} nodes started in {:.1} s; every node saw all {count} alive after {:.1} s",
        formed.0.as_secs_f64(),
        (formed.1 - started).as_secs_f64(),
    );

    let mut figures = Vec::new();
    for rep in 0..reps {
        // Apart from the gossip ticks, so writes land at different phases of them.
        tokio::time::sleep(Duration::from_millis(150 + (rep * 7919) % 300)).await;
        let writer = &nodes[rep as usize % count];
        let took = one_write(&nodes, writer, &format!("v{rep}")).await?;
        println!(
            "rep {rep:>3}: written on {}, on all {count} nodes {:.1} ms after the ack",
            writer.config.node.id,
            took.as_secs_f64() * 1e3
        );
        figures.push(took);
    }
    figures.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: f64| figures[((figures.len() - 1) as f64 * q).round() as usize];
    println!(
        "nodes {count}, peer delay {delay_ms} ms each way, {reps} writes: ack -> all nodes \
         median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(*figures.last().expect("reps >= 1")),
    );
    println!("load average after: {}", load_average());
    for node in nodes {
        node.shutdown().await;
    }
    Ok(())
}

async fn start_nodes(count: usize, delay_ms: u64) -> Vec<TestNode> {
    let memory = MemoryNetwork::default();
    memory.set_delay(Duration::from_millis(delay_ms));
    let networks = Networks {
        gossip: Some(chitchat::transport::ChannelTransport::default()),
        peers: Some(memory),
    };
    let ca = TestCa::new("simulated cluster CA");
    let mut nodes: Vec<TestNode> = Vec::with_capacity(count);
    for i in 0..count {
        let id = format!("node-{}", i + 1);
        // Everyone joins through the first three nodes, as operators list a few seeds.
        let seeds = nodes
            .iter()
            .take(3)
            .filter_map(|n| n.node().cluster())
            .map(|c| c.gossip_addr().to_string())
            .collect();
        let node = TestNode::start_on(networks.clone(), |config, dir| {
            config.node.id = id.clone();
            config.node.region = REGIONS[i % REGIONS.len()].to_string();
            config.public.workers = Some(1);
            let mut section = cluster_section(&ca, &id, dir, seeds);
            // The shipped defaults, not the test harness's faster ones.
            section.gossip_interval_ms = 200;
            section.sync_interval_ms = 5_000;
            section.peer_timeout_ms = 5_000;
            config.cluster = Some(section);
        })
        .await;
        nodes.push(node);
    }
    nodes
}

/// Waits until every node sees every node alive; returns (start time, when it happened).
async fn wait_formed(nodes: &[TestNode]) -> anyhow::Result<(Duration, Instant)> {
    let began = Instant::now();
    let deadline = began + Duration::from_secs(120);
    loop {
        let mut all = true;
        for node in nodes {
            let cluster = node.node().cluster().context("in a cluster")?;
            if cluster.live_peers().await.len() + 1 < nodes.len() {
                all = false;
                break;
            }
        }
        if all {
            return Ok((began.elapsed(), Instant::now()));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the cluster did not form in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes `name` on `writer`; returns the time from the acknowledgement until every node
/// holds it.
async fn one_write(nodes: &[TestNode], writer: &TestNode, name: &str) -> anyhow::Result<Duration> {
    let watchers: Vec<_> = nodes
        .iter()
        .map(|n| tokio::spawn(holds(n.node().control().clone(), name.to_string())))
        .collect();
    let api = json!({"id": API, "name": name, "kind": "http"});
    let (status, body) = writer.admin.put(&format!("/apis/{API}"), &api).await;
    anyhow::ensure!(status.is_success(), "write refused: {body}");
    let acked = Instant::now();
    let mut last = acked;
    for watcher in watchers {
        let seen = tokio::time::timeout(Duration::from_secs(60), watcher)
            .await
            .context("a node did not converge in 60 s")??;
        last = last.max(seen);
    }
    Ok(last - acked)
}

/// Resolves when `control` holds API `name` (checked at each change notification).
async fn holds(control: Arc<Control>, name: String) -> Instant {
    let mut changes = control.changes();
    loop {
        if control.api(API).is_ok_and(|a| a.name == name) {
            return Instant::now();
        }
        if changes.changed().await.is_err() {
            // The node stopped; this never converges.
            std::future::pending::<()>().await;
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.trim().to_string())
        .unwrap_or_default()
}
