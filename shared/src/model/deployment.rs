use super::{Api, Authorizer, CacheSettings, Integration, Route, ThrottleSettings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The stage an HTTP API serves from the base of its URL.
pub const DEFAULT_STAGE: &str = "$default";

/// An immutable snapshot of an API: what a stage serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub api_id: String,
    #[serde(default)]
    pub description: String,
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub created_at: u64,
    pub api: Api,
    pub routes: Vec<Route>,
    pub integrations: Vec<Integration>,
    #[serde(default)]
    pub authorizers: Vec<Authorizer>,
}

/// A named pointer at a deployment, with its variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    #[serde(default)]
    pub api_id: String,
    pub name: String,
    #[serde(default)]
    pub deployment_id: Option<String>,
    /// HTTP APIs only: every change to the API is deployed to this stage at once.
    #[serde(default)]
    pub auto_deploy: bool,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub description: String,
    /// Stage-wide throttle for every caller, with or without a key.
    #[serde(default)]
    pub throttle: Option<ThrottleSettings>,
    /// Per-route throttles, by route key (`GET /pets/{id}`).
    #[serde(default)]
    pub route_throttles: BTreeMap<String, ThrottleSettings>,
    /// The stage's response cache; like throttles, it applies without a deployment.
    #[serde(default)]
    pub cache: Option<CacheSettings>,
    /// One access log line per request when set.
    #[serde(default)]
    pub access_log: Option<AccessLogSettings>,
}

/// A stage's access log: the line's format, with `$context` variables as AWS names them
/// (`$context.requestId $context.status`); a JSON object of every field when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessLogSettings {
    #[serde(default)]
    pub format: Option<String>,
}

impl Stage {
    /// Stages are named within their API.
    pub fn id(&self) -> String {
        format!("{}/{}", self.api_id, self.name)
    }
}
