use serde::{Deserialize, Serialize};

/// The path of an HTTP API's catch-all route.
pub const DEFAULT_ROUTE: &str = "$default";
/// WebSocket APIs: the route a handshake runs (authorize, throttle, integration may refuse).
pub const CONNECT_ROUTE: &str = "$connect";
/// WebSocket APIs: the route called, best effort, once a connection has closed.
pub const DISCONNECT_ROUTE: &str = "$disconnect";

/// Method + path template → integration; in WebSocket APIs, route key → integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub api_id: String,
    /// An HTTP method in upper case, or `ANY` (empty in WebSocket APIs).
    #[serde(default)]
    pub method: String,
    /// `/pets/{id}`, `/files/{proxy+}`, or `$default` (HTTP APIs); empty in WebSocket APIs.
    #[serde(default)]
    pub path: String,
    /// WebSocket APIs only: `$connect`, `$disconnect`, `$default` or a custom key (`sendmessage`).
    #[serde(default)]
    pub route_key: Option<String>,
    pub integration_id: String,
    /// Callers must send an enabled API key of a usage plan covering this stage.
    #[serde(default)]
    pub api_key_required: bool,
    /// An authorizer of the same API.
    #[serde(default)]
    pub authorizer_id: Option<String>,
    /// JWT routes: the token must carry at least one of these scopes (`scope`/`scp` claim).
    #[serde(default)]
    pub authorization_scopes: Vec<String>,
}

impl Route {
    /// AWS's route key: `GET /pets/{id}`, `$default`, or a WebSocket API's `$connect`.
    pub fn key(&self) -> String {
        if let Some(key) = &self.route_key {
            key.clone()
        } else if self.path == DEFAULT_ROUTE {
            DEFAULT_ROUTE.to_string()
        } else {
            format!("{} {}", self.method, self.path)
        }
    }
}
