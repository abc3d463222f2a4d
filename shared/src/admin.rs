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
