//! Three real `edgeway` processes in one cluster (UDP gossip, QUIC peer channel with mutual
//! TLS from a cluster CA generated here): a write on one is served by the others, `kill -9` of
//! one is shown dead by the others within seconds, and the restarted node has caught up by the
//! time its `/ready` first answers 200.

mod common;

use common::{Edgeway, TOKEN, document, http, mock, wait_until};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Generous for a loaded 2-core machine; the figures are in BENCHMARKS.md, not asserted here.
const LIMIT: Duration = Duration::from_secs(20);

/// A cluster CA that signs node certificates (DNS name = node id, server and client auth).
struct ClusterCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl ClusterCa {
    fn new() -> ClusterCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "process test cluster CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        ClusterCa {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// Writes `ca.pem`, `{id}.pem` and `{id}.key` into `dir`.
    fn write_node(&self, dir: &Path, id: &str) {
        let mut params = CertificateParams::new(vec![id.to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, id);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        std::fs::write(dir.join("ca.pem"), &self.pem).unwrap();
        std::fs::write(dir.join(format!("{id}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{id}.key")), key.serialize_pem()).unwrap();
    }
}

/// Writes `{id}.toml`: every listener on 127.0.0.1:0, the default gossip and failure settings.
fn write_config(dir: &Path, id: &str, region: &str, seeds: &[SocketAddr]) -> PathBuf {
    let seeds: Vec<String> = seeds.iter().map(|s| format!("\"{s}\"")).collect();
    let file = |name: String| dir.join(name).display().to_string();
    let text = format!(
        "[node]\nid = \"{id}\"\nregion = \"{region}\"\ndata_dir = {data:?}\n\n\
         [public]\nlisten = \"127.0.0.1:0\"\n\n\
         [admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n\n\
         [cluster]\nid = \"process-test\"\ngossip = \"127.0.0.1:0\"\npeer = \"127.0.0.1:0\"\n\
         seeds = [{seeds}]\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\n",
        data = file(format!("data-{id}")),
        seeds = seeds.join(", "),
        ca = file("ca.pem".into()),
        cert = file(format!("{id}.pem")),
        key = file(format!("{id}.key")),
    );
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn get_json(node: &Edgeway, path: &str) -> Value {
    let (status, body) = http(node.admin, "GET", "admin", path, None);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// `alive` of member `id` in `node`'s `/cluster/members`, if it is listed.
fn member_alive(node: &Edgeway, id: &str) -> Option<bool> {
    let members = get_json(node, "/cluster/members");
    members["members"]
        .as_array()?
        .iter()
        .find(|m| m["id"] == id)
        .and_then(|m| m["alive"].as_bool())
}

fn alive_members(node: &Edgeway) -> usize {
    let members = get_json(node, "/cluster/members");
    members["members"]
        .as_array()
        .map_or(0, |m| m.iter().filter(|m| m["alive"] == true).count())
}

fn put_api(node: &Edgeway, id: &str, body: &str) {
    let path = format!("/apis/{id}/document");
    let (status, answer) = http(
        node.admin,
        "PUT",
        "admin",
        &path,
        Some(&document(id, &mock(body))),
    );
    assert_eq!(status, 200, "{answer}");
}

fn serves(node: &Edgeway, api: &str, body: &str) -> bool {
    let host = format!("{api}.execute-api.localhost");
    http(node.public, "GET", &host, "/prod/work", None) == (200, body.to_string())
}

#[test]
fn three_processes_share_writes_see_a_killed_node_dead_and_catch_it_up_before_ready() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ClusterCa::new();
    let ids = ["node-1", "node-2", "node-3"];
    let regions = ["us-east", "eu-west", "ap-south"];
    for id in ids {
        ca.write_node(dir.path(), id);
    }
    let first = Edgeway::start(&write_config(dir.path(), ids[0], regions[0], &[]));
    let seed = [first
        .gossip
        .expect("a cluster node logs its gossip address")];
    let second = Edgeway::start(&write_config(dir.path(), ids[1], regions[1], &seed));
    let mut third = Edgeway::start(&write_config(dir.path(), ids[2], regions[2], &seed));
    let nodes = [&first, &second, &third];
    for node in nodes {
        wait_until(LIMIT, "every node sees three live members", || {
            alive_members(node) == 3
        });
    }

    // A write on the second node is served by all three.
    put_api(&second, "shared", "written on node-2");
    for node in nodes {
        wait_until(LIMIT, "the write on node-2 is served everywhere", || {
            serves(node, "shared", "written on node-2")
        });
    }

    // kill -9: no goodbye; the others must notice on their own.
    third.child.kill().unwrap();
    third.child.wait().unwrap();
    for node in [&first, &second] {
        let took = wait_until(LIMIT, "node-3 is shown alive: false", || {
            member_alive(node, "node-3") == Some(false)
        });
        eprintln!("node-3 shown dead after {took:?}");
    }
    let status = get_json(&first, "/cluster/status");
    assert_eq!(status["dead_members"], 1, "{status}");

    // Written while node-3 is down: the restarted node must hold it once /ready says 200.
    put_api(&first, "late", "written while node-3 was away");
    let seeds = [first.gossip.unwrap(), second.gossip.unwrap()];
    third = Edgeway::start(&write_config(dir.path(), ids[2], regions[2], &seeds));
    wait_until(LIMIT, "the restarted node-3 answers /ready 200", || {
        http(third.admin, "GET", "admin", "/ready", None).0 == 200
    });
    assert!(
        serves(&third, "late", "written while node-3 was away"),
        "node-3 said ready before it caught up"
    );
    assert!(serves(&third, "shared", "written on node-2"));
    for node in [&first, &second] {
        wait_until(LIMIT, "node-3 is shown alive again", || {
            member_alive(node, "node-3") == Some(true)
        });
    }
    let status = get_json(&third, "/cluster/status");
    assert_eq!(status["caught_up"], true, "{status}");
}
