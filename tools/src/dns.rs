//! `edgewayctl dns`: DNS records for the cluster from live membership — per region, the A and
//! AAAA sets of its healthy nodes (alive and `ready`), as a BIND zone-file fragment or as JSON
//! a geo/latency DNS service can load.
//!
//! A node's address is the host of its public listener; a node listening on a wildcard
//! address (`0.0.0.0`, `::`) is reached at the host of its gossip address instead.

use anyhow::bail;
use edgeway_shared::admin::{ClusterMember, ClusterMembers};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsExport {
    pub cluster_id: String,
    /// Names are `<region>.<zone>.`, or bare region labels without a zone.
    pub zone: Option<String>,
    pub ttl: u32,
    pub regions: BTreeMap<String, RegionRecords>,
    /// Regions with members but no healthy node (left out of the records).
    pub unhealthy_regions: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionRecords {
    pub name: String,
    pub a: Vec<String>,
    pub aaaa: Vec<String>,
    /// The node ids behind the addresses.
    pub nodes: Vec<String>,
}

/// Where a member serves clients, if it can be told.
fn address(member: &ClusterMember) -> Option<IpAddr> {
    let ip = |s: &str| s.parse::<SocketAddr>().map(|a| a.ip()).ok();
    let public = member.addresses.public.as_deref().and_then(ip);
    match public {
        Some(addr) if !addr.is_unspecified() => Some(addr),
        _ => ip(&member.addresses.gossip).filter(|a| !a.is_unspecified()),
    }
}

fn healthy(member: &ClusterMember) -> bool {
    member.alive && member.health == "ready"
}

/// A region as one DNS label.
fn label(region: &str) -> anyhow::Result<String> {
    let lower = region.to_ascii_lowercase();
    let ok = !lower.is_empty()
        && lower.len() <= 63
        && !lower.starts_with('-')
        && !lower.ends_with('-')
        && lower
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !ok {
        bail!("region '{region}' is not a DNS label (letters, digits, inner hyphens)");
    }
    Ok(lower)
}

pub fn export(members: &ClusterMembers, zone: Option<&str>, ttl: u32) -> anyhow::Result<DnsExport> {
    let zone = zone.map(|z| z.trim_end_matches('.').to_ascii_lowercase());
    let mut regions: BTreeMap<String, RegionRecords> = BTreeMap::new();
    let mut seen = Vec::new();
    for member in &members.members {
        let region = label(&member.region)?;
        if !seen.contains(&region) {
            seen.push(region.clone());
        }
        let Some(addr) = address(member).filter(|_| healthy(member)) else {
            continue;
        };
        let records = regions
            .entry(region.clone())
            .or_insert_with(|| RegionRecords {
                name: match &zone {
                    Some(zone) => format!("{region}.{zone}."),
                    None => region.clone(),
                },
                ..RegionRecords::default()
            });
        let set = if addr.is_ipv4() {
            &mut records.a
        } else {
            &mut records.aaaa
        };
        if !set.contains(&addr.to_string()) {
            set.push(addr.to_string());
        }
        records.nodes.push(member.id.clone());
    }
    for records in regions.values_mut() {
        records.a.sort();
        records.aaaa.sort();
        records.nodes.sort();
    }
    seen.retain(|r| !regions.contains_key(r));
    seen.sort();
    Ok(DnsExport {
        cluster_id: members.cluster_id.clone(),
        zone,
        ttl,
        regions,
        unhealthy_regions: seen,
    })
}

/// The records as a BIND zone-file fragment (include it, or paste it, into the zone).
pub fn bind(export: &DnsExport) -> String {
    let mut out = format!(
        "; Edgeway cluster {}: healthy nodes by region\n",
        export.cluster_id
    );
    for (region, records) in &export.regions {
        let _ = writeln!(out, "; {region}: {}", records.nodes.join(", "));
        for (kind, set) in [("A", &records.a), ("AAAA", &records.aaaa)] {
            for addr in set {
                let _ = writeln!(out, "{}\t{}\tIN\t{kind}\t{addr}", records.name, export.ttl);
            }
        }
    }
    for region in &export.unhealthy_regions {
        let _ = writeln!(out, "; {region}: no healthy node, no records");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeway_shared::admin::MemberAddresses;

    fn member(
        id: &str,
        region: &str,
        public: &str,
        gossip: &str,
        alive: bool,
        health: &str,
    ) -> ClusterMember {
        ClusterMember {
            id: id.into(),
            generation: 1,
            region: region.into(),
            alive,
            this_node: false,
            addresses: MemberAddresses {
                gossip: gossip.into(),
                peer: None,
                public: Some(public.into()),
                admin: None,
            },
            heartbeat: 1,
            last_heartbeat_ms_ago: Some(10),
            health: health.into(),
            load: None,
            digest: None,
            caught_up: true,
        }
    }

    #[test]
    fn regions_get_the_addresses_of_their_healthy_nodes_only() {
        let members = ClusterMembers {
            cluster_id: "prod".into(),
            members: vec![
                member(
                    "a",
                    "us-east",
                    "10.0.0.2:443",
                    "10.0.0.2:7946",
                    true,
                    "ready",
                ),
                member(
                    "b",
                    "us-east",
                    "0.0.0.0:443",
                    "10.0.0.3:7946",
                    true,
                    "ready",
                ),
                member(
                    "c",
                    "us-east",
                    "10.0.0.4:443",
                    "10.0.0.4:7946",
                    false,
                    "ready",
                ),
                member(
                    "d",
                    "eu-west",
                    "[2001:db8::1]:443",
                    "[2001:db8::1]:7946",
                    true,
                    "ready",
                ),
                member(
                    "e",
                    "eu-west",
                    "10.1.0.1:443",
                    "10.1.0.1:7946",
                    true,
                    "draining",
                ),
                member(
                    "f",
                    "ap-south",
                    "10.2.0.1:443",
                    "10.2.0.1:7946",
                    true,
                    "starting",
                ),
            ],
        };
        let export = export(&members, Some("API.example.com."), 30).unwrap();
        let us = &export.regions["us-east"];
        assert_eq!(us.name, "us-east.api.example.com.");
        assert_eq!(
            (us.a.clone(), us.nodes.clone()),
            (
                vec!["10.0.0.2".to_string(), "10.0.0.3".into()],
                vec!["a".to_string(), "b".into()]
            )
        );
        assert_eq!(export.regions["eu-west"].aaaa, ["2001:db8::1"]);
        assert_eq!(export.unhealthy_regions, ["ap-south"]);
        assert_eq!(
            bind(&export),
            "; Edgeway cluster prod: healthy nodes by region\n\
             ; eu-west: d\neu-west.api.example.com.\t30\tIN\tAAAA\t2001:db8::1\n\
             ; us-east: a, b\nus-east.api.example.com.\t30\tIN\tA\t10.0.0.2\n\
             us-east.api.example.com.\t30\tIN\tA\t10.0.0.3\n\
             ; ap-south: no healthy node, no records\n"
        );
        let bare = super::export(&members, None, 30).unwrap();
        assert_eq!(bare.regions["us-east"].name, "us-east");
        let mut odd = members.clone();
        odd.members[0].region = "us east".into();
        assert!(
            super::export(&odd, None, 30)
                .unwrap_err()
                .to_string()
                .contains("not a DNS label")
        );
    }
}
