//! `DELETE /apis/{id}/stages/{name}/cache`: empties a stage's response cache on this node.

use super::{Admin, Failure, Reply, bad_request};
use crate::body::json_response;
use edgeway_shared::ObjectKind;
use edgeway_shared::admin::CacheFlush;
use http::StatusCode;

pub async fn flush(admin: &Admin, api: &str, stage: &str, query: &str) -> Reply {
    admin
        .control
        .get(ObjectKind::Stage, &format!("{api}/{stage}"))?;
    match scope(query)? {
        Scope::Node => {}
        Scope::Cluster => {
            return Err(Failure(
                StatusCode::NOT_IMPLEMENTED,
                "not_implemented",
                "scope=cluster needs the peer channel, which this node does not have yet; \
                 flush each node (scope=node)"
                    .into(),
            ));
        }
    }
    admin.caches.flush_stage(api, stage).await;
    Ok(json_response(
        200,
        &CacheFlush {
            flushed_nodes: vec![admin.node_id.clone()],
        },
    ))
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
