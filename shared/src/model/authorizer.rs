//! Authorizers: JWT (issuer, audiences, JWKS) and custom ones that call an HTTP endpoint (the
//! Lambda authorizer equivalent).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorizer {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub api_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AuthorizerType,
    /// Where the identity comes from: `$request.header.NAME`, `$request.querystring.NAME`,
    /// `$stageVariables.NAME`, `$context.sourceIp`. JWT and TOKEN authorizers take one header;
    /// the default is `$request.header.Authorization`.
    #[serde(default)]
    pub identity_source: Vec<String>,
    #[serde(default)]
    pub jwt: Option<JwtSettings>,
    /// Custom authorizers: the endpoint called with the identity.
    #[serde(default)]
    pub uri: Option<String>,
    /// Custom authorizers: how long an answer is reused for the same identity; 0 disables.
    #[serde(default = "default_ttl")]
    pub result_ttl_seconds: u32,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_ttl() -> u32 {
    300
}

fn default_timeout() -> u64 {
    10_000
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizerType {
    Jwt,
    /// Custom authorizer given one token (header).
    Token,
    /// Custom authorizer given chosen request parts.
    Request,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JwtSettings {
    pub issuer: String,
    #[serde(default)]
    pub audiences: Vec<String>,
    /// JWKS document URL (fetched, cached, refreshed on an unknown `kid`).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Inline JWKS document (JSON text), instead of `jwks_uri`.
    #[serde(default)]
    pub jwks: Option<String>,
    /// Accepted algorithms, e.g. `["RS256"]`; never taken from the token.
    pub algorithms: Vec<String>,
    /// Shared secret for HS256/384/512; HMAC algorithms need it.
    #[serde(default)]
    pub hmac_secret: Option<String>,
    /// Allowed clock skew for `exp`, `nbf` and `iat`.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// An unknown `kid` refreshes the JWKS at most this often.
    #[serde(default = "default_refresh")]
    pub jwks_min_refresh_seconds: u64,
}

fn default_leeway() -> u64 {
    60
}

fn default_refresh() -> u64 {
    30
}
