//! Admin API request and response types, shared by the node, `edgewayctl` and the tests.

use crate::model::*;
use serde::{Deserialize, Serialize};

/// Error body of every admin API failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminError {
    pub error: String,
    pub message: String,
}

/// A whole API at once: `PUT /apis/{id}/document`. Objects not named are deleted; ids inside
/// the document are the API's own, so applying the same document twice changes nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiDocument {
    pub api: Api,
    #[serde(default)]
    pub integrations: Vec<Integration>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub authorizers: Vec<Authorizer>,
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// Stages to deploy the document to once it is stored (created if missing).
    #[serde(default)]
    pub deploy_to: Vec<String>,
}

/// `POST /apis/{id}/deployments`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployRequest {
    #[serde(default)]
    pub description: String,
    /// Points this stage at the new deployment (created if missing).
    #[serde(default)]
    pub stage: Option<String>,
}

/// `GET /objects`: everything the node holds, with versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectList {
    pub objects: Vec<VersionedObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionedObject {
    pub version: crate::Version,
    pub object: Object,
}

/// `/health` and `/ready`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub node: String,
    pub objects: usize,
}

/// `POST /usageplans/{id}/keys`: attaches an API key to a usage plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanKeyRequest {
    pub key_id: String,
}

/// A key in a usage plan: `GET /usageplans/{id}/keys[/{key_id}]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanKeyInfo {
    pub plan_id: String,
    pub key_id: String,
    pub name: String,
    pub enabled: bool,
    /// Where the key stands in the current quota period (plans with a quota).
    #[serde(default)]
    pub quota: Option<QuotaInfo>,
}

/// One key's quota in the current period. Counted by the node that serves the key's requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaInfo {
    pub limit: u64,
    pub period: QuotaPeriod,
    pub offset: u32,
    pub remaining: u64,
    /// RFC 3339, UTC.
    pub period_start: String,
    pub period_end: String,
}

/// `GET /usageplans/{id}/usage?key_id=&start_date=&end_date=` (AWS GetUsage): for each key, one
/// `[used, remaining]` per day from `start_date` to `end_date`; `remaining` is the quota left at
/// the end of that day (`null` when the plan has no quota).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    pub usage_plan_id: String,
    pub start_date: String,
    pub end_date: String,
    pub items: std::collections::BTreeMap<String, Vec<(u64, Option<u64>)>>,
}

/// `PATCH /usageplans/{id}/keys/{key_id}/usage` (AWS UpdateUsage): sets what is left of the
/// current quota period (more than the limit extends it), or restores the full quota.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageUpdate {
    #[serde(default)]
    pub remaining: Option<u64>,
    #[serde(default)]
    pub reset: bool,
}

/// One node as this node sees it through gossip: `GET /cluster/members`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterMember {
    pub id: String,
    /// Raised on every restart (the start time in milliseconds).
    pub generation: u64,
    pub region: String,
    pub alive: bool,
    /// `true` for the node that answered.
    pub this_node: bool,
    /// Gossip, peer (QUIC), public and admin addresses as the node advertises them.
    pub addresses: MemberAddresses,
    /// The node's heartbeat counter, and how long ago this node saw it change.
    pub heartbeat: u64,
    pub last_heartbeat_ms_ago: Option<u64>,
    /// `starting`, `ready`, `draining` or `left`.
    pub health: String,
    /// Cores' worth of CPU the node used lately, as it last gossiped.
    #[serde(default)]
    pub load: Option<f64>,
    /// The node's configuration state: highest object version and a hash of every version.
    pub digest: Option<StateDigest>,
    /// Whether its state is the same as the answering node's.
    pub caught_up: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberAddresses {
    pub gossip: String,
    #[serde(default)]
    pub peer: Option<String>,
    #[serde(default)]
    pub public: Option<String>,
    #[serde(default)]
    pub admin: Option<String>,
}

/// A summary of a node's configuration state, small enough to gossip.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDigest {
    /// The highest object version, as `millis.counter@node` (empty for an empty state).
    pub max_version: String,
    /// XOR of a hash of every (object key, version), in hex: equal digests mean equal states.
    pub hash: String,
    /// Live objects held (tombstones are not counted).
    pub records: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterMembers {
    pub cluster_id: String,
    pub members: Vec<ClusterMember>,
}

/// `GET /cluster/status`: is this node's state the same as every live peer's?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub cluster_id: String,
    pub node: String,
    pub region: String,
    /// Every live peer holds exactly this node's state.
    pub converged: bool,
    /// This node finished its first sync with the peers it found at start.
    pub caught_up: bool,
    pub digest: StateDigest,
    pub live_members: usize,
    pub dead_members: usize,
    /// Live peers whose state differs from this node's.
    pub differing: Vec<String>,
    /// Tombstones this node still holds.
    #[serde(default)]
    pub tombstones: u64,
    /// Full sync rounds since start in which every live peer answered.
    #[serde(default)]
    pub sync_rounds: u64,
    /// This node's sync watermark (`millis.counter`), once it has synced with every member.
    #[serde(default)]
    pub watermark: Option<String>,
    /// The newest tombstone version this node has collected.
    #[serde(default)]
    pub gc_floor: Option<String>,
    /// False while a node that may have been away longer than the dead-node grace has not yet
    /// taken its peers' state (peers do not pull from it meanwhile).
    #[serde(default = "yes")]
    pub settled: bool,
}

fn yes() -> bool {
    true
}

/// `DELETE /apis/{id}/stages/{name}/cache`: the nodes whose copy of the stage cache was emptied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheFlush {
    pub flushed_nodes: Vec<String>,
    /// `scope=cluster`: live nodes that could not be reached, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_nodes: Vec<FailedNode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedNode {
    pub node: String,
    pub error: String,
}

/// `GET /@connections/{id}`: a WebSocket connection, named as AWS's GetConnection names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    pub connection_id: String,
    pub api_id: String,
    pub stage: String,
    /// Milliseconds since the Unix epoch.
    pub connected_at: u64,
    /// The last message either way, in milliseconds since the Unix epoch.
    pub last_active_at: u64,
    pub identity: ConnectionIdentity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionIdentity {
    pub source_ip: String,
    pub user_agent: Option<String>,
}
