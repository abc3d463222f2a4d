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
//! Usage: cluster_sim [NODES=50] [REPS=20] [PEER_DELAY_MS=0] [GOSSIP_INTERVAL_MS=200]
//!   cargo run --release -p edgeway-tests --example cluster_sim -- 100 20
//!
//! All nodes share this process's runtime, so gossip work grows with NODES² here while each
//! real node does only its own share. On 2 cores, 100 nodes at the shipped 200 ms interval do
//! not keep up (rounds run late, heartbeats arrive unevenly, phi-accrual marks peers dead and
//! the membership flaps); a longer GOSSIP_INTERVAL_MS lets the simulation keep pace.

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
    let gossip_ms = arg(4, 200)?;
    anyhow::ensure!(count >= 2 && reps >= 1, "at least 2 nodes and 1 repetition");
    println!("load average before: {}", load_average());

    let started = Instant::now();
    let (nodes, gossip) = start_nodes(count, delay_ms, gossip_ms).await;
    println!(
        "{count} nodes started after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let formed = wait_formed(&nodes, &gossip).await?;
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
        "nodes {count}, gossip every {gossip_ms} ms, peer delay {delay_ms} ms each way, \
         {reps} writes: ack -> all nodes \
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

async fn start_nodes(
    count: usize,
    delay_ms: u64,
    gossip_ms: u64,
) -> (Vec<TestNode>, chitchat::transport::ChannelTransport) {
    let memory = MemoryNetwork::default();
    memory.set_delay(Duration::from_millis(delay_ms));
    let gossip = chitchat::transport::ChannelTransport::default();
    let networks = Networks {
        gossip: Some(gossip.clone()),
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
            // The shipped defaults (unless told otherwise), not the test harness's faster ones.
            section.gossip_interval_ms = gossip_ms;
            section.sync_interval_ms = 5_000;
            section.peer_timeout_ms = 5_000;
            config.cluster = Some(section);
        })
        .await;
        nodes.push(node);
    }
    (nodes, gossip)
}

/// Waits until every node sees every node alive; returns (start time, when it happened).
async fn wait_formed(
    nodes: &[TestNode],
    gossip: &chitchat::transport::ChannelTransport,
) -> anyhow::Result<(Duration, Instant)> {
    let began = Instant::now();
    let deadline = began + Duration::from_secs(120);
    let mut report = began;
    let mut sent = gossip.statistics();
    loop {
        let mut seen = Vec::with_capacity(nodes.len());
        for node in nodes {
            let cluster = node.node().cluster().context("in a cluster")?;
            seen.push(cluster.live_peers().await.len() + 1);
        }
        if seen.iter().all(|&n| n == nodes.len()) {
            return Ok((began.elapsed(), Instant::now()));
        }
        if report.elapsed() >= Duration::from_secs(5) {
            report = Instant::now();
            seen.sort();
            let complete = seen.iter().filter(|&&n| n == nodes.len()).count();
            let now = gossip.statistics();
            println!(
                "after {:.0} s: {complete}/{} nodes see all alive; live seen: min {}, median {}; \
                 gossip since last: {} messages, {:.1} MB",
                began.elapsed().as_secs_f64(),
                nodes.len(),
                seen[0],
                seen[seen.len() / 2],
                now.num_messages_total - sent.num_messages_total,
                (now.num_bytes_total - sent.num_bytes_total) as f64 / 1e6,
            );
            sent = now;
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
