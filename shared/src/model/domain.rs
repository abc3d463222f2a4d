use serde::{Deserialize, Serialize};

/// A custom host name with its certificate and base path mappings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    /// The host name clients use, e.g. `api.example.com`.
    pub name: String,
    /// PEM certificate chain served for this name (SNI); `None` uses the listener's default.
    #[serde(default)]
    pub certificate_pem: Option<String>,
    /// PEM private key for `certificate_pem`. Never returned by the admin API.
    #[serde(default)]
    pub private_key_pem: Option<String>,
    #[serde(default)]
    pub mappings: Vec<BasePathMapping>,
    /// mTLS: PEM CA certificates that client certificates must chain to. When set, a client
    /// without a valid certificate is refused at the handshake.
    #[serde(default)]
    pub truststore_pem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasePathMapping {
    /// First path segment(s) without slashes at the ends, e.g. `v1` or `orders/v2`; empty maps the
    /// domain's root.
    #[serde(default)]
    pub base_path: String,
    pub api_id: String,
    pub stage: String,
}
