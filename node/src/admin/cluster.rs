//! `/cluster/members` and `/cluster/status`.

use super::{Failure, Reply};
use crate::body::json_response;
use crate::cluster::Cluster;
use http::{Method, StatusCode};

pub async fn route(cluster: Option<&Cluster>, method: &Method, segments: &[&str]) -> Reply {
    let Some(cluster) = cluster else {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            "not_found",
            "this node runs alone: its config has no [cluster] section".into(),
        ));
    };
    match (method, segments) {
        (&Method::GET, ["members"]) => Ok(json_response(200, &cluster.members().await)),
        (&Method::GET, ["status"]) => Ok(json_response(200, &cluster.status().await)),
        _ => Err(Failure(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no such cluster endpoint: {method} /cluster/{}",
                segments.join("/")
            ),
        )),
    }
}
