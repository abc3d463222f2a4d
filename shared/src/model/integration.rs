use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DEFAULT_TIMEOUT_MS: u64 = 29_000;
pub const MIN_TIMEOUT_MS: u64 = 50;
pub const MAX_TIMEOUT_MS: u64 = 29_000;

/// What a route calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub api_id: String,
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    /// Backend URL for `http_proxy` and `http`; may use `${stageVariables.x}` and, for `http`,
    /// `{param}` placeholders filled by request parameter mapping.
    #[serde(default)]
    pub uri: Option<String>,
    /// Method sent to the backend; `None` keeps the client's method.
    #[serde(default)]
    pub http_method: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub backend_protocol: BackendProtocol,
    /// `http` only: `integration.request.{header|querystring|path}.NAME` ←
    /// `method.request.{header|querystring|path}.NAME`, `stageVariables.NAME` or `'static'`.
    #[serde(default)]
    pub request_parameters: BTreeMap<String, String>,
    /// `http` only: status and header mapping of the backend's answer, first match wins.
    #[serde(default)]
    pub responses: Vec<IntegrationResponse>,
    /// `mock` only: the answer.
    #[serde(default)]
    pub mock: Option<MockResponse>,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationType {
    HttpProxy,
    Http,
    Mock,
}

/// How the node talks to an `http`/`http_proxy` backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendProtocol {
    /// HTTP/1.1, or HTTP/2 when a TLS backend offers it through ALPN.
    #[default]
    Auto,
    /// HTTP/2 only: prior knowledge (h2c) for `http://`, ALPN `h2` for `https://`.
    Http2,
}

/// One mapping of a backend answer, chosen by a regular expression on its status code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationResponse {
    /// A regular expression matched against the whole status code, e.g. `5\d\d`. Empty
    /// matches every status (the default mapping).
    #[serde(default)]
    pub selection_pattern: String,
    /// Status sent to the client; `None` keeps the backend's.
    #[serde(default)]
    pub status_code: Option<u16>,
    /// `method.response.header.NAME` ← `integration.response.header.NAME` or `'static'`.
    #[serde(default)]
    pub response_parameters: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MockResponse {
    #[serde(default = "default_mock_status")]
    pub status_code: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// May use `${stageVariables.x}`.
    #[serde(default)]
    pub body: String,
}

fn default_mock_status() -> u16 {
    200
}
