use super::access::{ApiKeySource, Cors, ResourcePolicy};
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
    /// Regional APIs: the region whose nodes serve it.
    #[serde(default)]
    pub home_region: Option<String>,
    /// Regional APIs requested at a node of another region: forward or answer 421.
    #[serde(default)]
    pub outside_home: OutsideHome,
    /// Private APIs: source networks (CIDR) that may also reach it on the public listener.
    #[serde(default)]
    pub private_networks: Vec<String>,
    /// When true, the API is reachable only through custom domains.
    #[serde(default)]
    pub disable_default_endpoint: bool,
    /// Per-API overrides of the gateway's own error responses.
    #[serde(default)]
    pub gateway_responses: BTreeMap<ResponseType, GatewayResponse>,
    #[serde(default)]
    pub api_key_source: ApiKeySource,
    /// Source-address allow and deny lists.
    #[serde(default)]
    pub policy: Option<ResourcePolicy>,
    #[serde(default)]
    pub cors: Option<Cors>,
    /// WebSocket APIs: where a message's route key is read, `$request.body.action` when absent.
    #[serde(default)]
    pub route_selection_expression: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKind {
    /// Amazon API Gateway REST API: serves only what was deployed to a stage.
    Rest,
    /// HTTP API: `$default` stage and route, optional auto-deploy.
    Http,
    /// WebSocket API: routes by key (`$connect`, `$disconnect`, `$default`, custom keys picked
    /// from each message by the route selection expression).
    Websocket,
}

/// The route selection expression of a WebSocket API that sets none.
pub const DEFAULT_ROUTE_SELECTION: &str = "$request.body.action";

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

/// What a node outside a regional API's home region does with a request for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutsideHome {
    /// Forward it over the peer channel to a live node of the home region.
    #[default]
    Forward,
    /// Answer 421 Misdirected Request (the client should ask the home region itself).
    Misdirected,
}

impl Api {
    /// An API with every optional setting at its default.
    pub fn new(id: impl Into<String>, name: impl Into<String>, kind: ApiKind) -> Api {
        Api {
            id: id.into(),
            name: name.into(),
            kind,
            description: String::new(),
            endpoint_type: EndpointType::default(),
            home_region: None,
            outside_home: OutsideHome::default(),
            private_networks: Vec::new(),
            disable_default_endpoint: false,
            gateway_responses: BTreeMap::new(),
            api_key_source: ApiKeySource::default(),
            policy: None,
            cors: None,
            route_selection_expression: None,
        }
    }

    /// WebSocket APIs: the route selection expression in force.
    pub fn route_selection(&self) -> &str {
        (self.route_selection_expression.as_deref()).unwrap_or(DEFAULT_ROUTE_SELECTION)
    }
}
