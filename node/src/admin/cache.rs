//! `DELETE /apis/{id}/stages/{name}/cache`: empties a stage's response cache on this node, or
//! with `scope=cluster` on every live node of the cluster (over the peer channel).

use super::{Admin, Failure, Reply, bad_request};
use crate::body::json_response;
use edgeway_shared::ObjectKind;
use edgeway_shared::admin::{CacheFlush, FailedNode};

pub async fn flush(admin: &Admin, api: &str, stage: &str, query: &str) -> Reply {
    admin
        .control
        .get(ObjectKind::Stage, &format!("{api}/{stage}"))?;
    let cluster_wide = matches!(scope(query)?, Scope::Cluster);
    admin.caches.flush_stage(api, stage).await;
    let mut answer = CacheFlush {
        flushed_nodes: vec![admin.node_id.clone()],
        failed_nodes: Vec::new(),
    };
    // A node that runs alone is the whole cluster.
    if let (true, Some(cluster)) = (cluster_wide, admin.cluster.get()) {
        let (flushed, failed) = cluster.flush_cache(api, stage).await;
        answer.flushed_nodes.extend(flushed);
        answer.failed_nodes = (failed.into_iter())
            .map(|(node, error)| FailedNode { node, error })
            .collect();
    }
    let status = if answer.failed_nodes.is_empty() {
        200
    } else {
        207
    };
    Ok(json_response(status, &answer))
}

enum Scope {
    Node,
    Cluster,
}

/// `scope=node` (the default) or `scope=cluster`.
fn scope(query: &str) -> Result<Scope, Failure> {
    let value = (query.split('&'))
        .filter_map(|pair| pair.strip_prefix("scope="))
        .next_back();
    match value {
        None | Some("node") => Ok(Scope::Node),
        Some("cluster") => Ok(Scope::Cluster),
        Some(other) => Err(bad_request(format!(
            "scope: '{other}' is not node or cluster"
        ))),
    }
}
