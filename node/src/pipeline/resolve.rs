//! Phase 2, resolve: host + path → API + stage + the path inside the API.
//!
//! In order: a custom domain (Host + longest matching base path); the default endpoint by host,
//! `{api_id}.execute-api.{anything}`; and the default endpoint by path, which needs no DNS:
//! `/restapis/{api_id}/{stage}/_user_request_/{path}` (LocalStack's form).

use crate::error::GatewayError;
use crate::snapshot::{ApiEntry, Snapshot, StageRuntime};
use edgeway_shared::{DEFAULT_STAGE, ResponseType};
use std::sync::Arc;

pub struct Resolved<'r> {
    pub stage: Arc<StageRuntime>,
    /// The path the API's routes see, starting with `/`.
    pub path: &'r str,
}

const EXECUTE_API: &str = ".execute-api.";
const PATH_PREFIX: &str = "/restapis/";
const USER_REQUEST: &str = "/_user_request_";

pub fn resolve<'r>(
    snapshot: &Snapshot,
    host: &str,
    path: &'r str,
) -> Result<Resolved<'r>, GatewayError> {
    if let Some(mappings) = snapshot.domain(host) {
        for m in mappings {
            let Some(rest) = strip_base_path(path, &m.base_path) else {
                continue;
            };
            let stage = snapshot.api(&m.api_id).and_then(|a| a.stages.get(&m.stage));
            return stage
                .map(|s| Resolved {
                    stage: s.clone(),
                    path: rest,
                })
                .ok_or_else(not_found);
        }
        return Err(not_found());
    }
    if let Some((api_id, _)) = host.split_once(EXECUTE_API) {
        let api = default_endpoint(snapshot, api_id)?;
        return by_stage_prefix(api, path);
    }
    if let Some(rest) = path.strip_prefix(PATH_PREFIX) {
        let (api_id, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let (stage_name, rest) = rest
            .split_once('/')
            .map(|(s, r)| (s, &path[path.len() - r.len() - 1..]))
            .unwrap_or((rest, "/"));
        let api = default_endpoint(snapshot, api_id)?;
        let stage = api.stages.get(stage_name).ok_or_else(not_found)?;
        let inner = match rest.strip_prefix(USER_REQUEST) {
            Some("") => "/",
            Some(inner) if inner.starts_with('/') => inner,
            _ => return Err(not_found()),
        };
        return Ok(Resolved {
            stage: stage.clone(),
            path: inner,
        });
    }
    Err(not_found())
}

fn default_endpoint<'s>(
    snapshot: &'s Snapshot,
    api_id: &str,
) -> Result<&'s ApiEntry, GatewayError> {
    snapshot
        .api(api_id)
        .filter(|a| !a.api.disable_default_endpoint)
        .ok_or_else(not_found)
}

/// `/prod/pets` → stage `prod`, path `/pets`; an HTTP API's `$default` stage serves every
/// path that does not start with another stage's name.
fn by_stage_prefix<'r>(api: &ApiEntry, path: &'r str) -> Result<Resolved<'r>, GatewayError> {
    let trimmed = &path[1.min(path.len())..];
    let (first, _) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    if let Some(stage) = api.stages.get(first).filter(|_| first != DEFAULT_STAGE) {
        let rest = &path[1 + first.len()..];
        return Ok(Resolved {
            stage: stage.clone(),
            path: if rest.is_empty() { "/" } else { rest },
        });
    }
    let stage = api.stages.get(DEFAULT_STAGE).ok_or_else(not_found)?;
    Ok(Resolved {
        stage: stage.clone(),
        path,
    })
}

/// `base` = `v1` matches `/v1` and `/v1/x`, not `/v10`; an empty base matches everything.
fn strip_base_path<'r>(path: &'r str, base: &str) -> Option<&'r str> {
    if base.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix('/')?.strip_prefix(base)?;
    match rest {
        "" => Some("/"),
        r if r.starts_with('/') => Some(r),
        _ => None,
    }
}

fn not_found() -> GatewayError {
    GatewayError::client(ResponseType::ResourceNotFound, "Not Found")
}

#[cfg(test)]
mod tests {
    use super::strip_base_path;

    #[test]
    fn base_paths_match_whole_segments() {
        assert_eq!(strip_base_path("/v1/pets", "v1"), Some("/pets"));
        assert_eq!(strip_base_path("/v1", "v1"), Some("/"));
        assert_eq!(strip_base_path("/v10/pets", "v1"), None);
        assert_eq!(strip_base_path("/orders/v2/x", "orders/v2"), Some("/x"));
        assert_eq!(strip_base_path("/anything", ""), Some("/anything"));
    }
}
