use super::responses::{GatewayResponse, ResponseType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An API: the unit that is deployed to stages and mapped to domains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Api {
    /// Short lowercase id; generated when empty on create.
    #[serde(default)]
    pub id: String,
    pub name: String,
    pub kind: ApiKind,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub endpoint_type: EndpointType,
    /// When true, the API is reachable only through custom domains.
    #[serde(default)]
    pub disable_default_endpoint: bool,
    /// Per-API overrides of the gateway's own error responses.
    #[serde(default)]
    pub gateway_responses: BTreeMap<ResponseType, GatewayResponse>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKind {
    /// Amazon API Gateway REST API: serves only what was deployed to a stage.
    Rest,
    /// HTTP API: `$default` stage and route, optional auto-deploy.
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointType {
    /// Served by every node.
    #[default]
    Edge,
    /// Served by the nodes of its home region.
    Regional,
    /// Served only on the private listener.
    Private,
}
