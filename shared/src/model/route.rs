use serde::{Deserialize, Serialize};

/// The path of an HTTP API's catch-all route.
pub const DEFAULT_ROUTE: &str = "$default";

/// Method + path template → integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub api_id: String,
    /// An HTTP method in upper case, or `ANY`.
    pub method: String,
    /// `/pets/{id}`, `/files/{proxy+}`, or `$default` (HTTP APIs).
    pub path: String,
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
    /// AWS's route key: `GET /pets/{id}` or `$default`.
    pub fn key(&self) -> String {
        if self.path == DEFAULT_ROUTE {
            DEFAULT_ROUTE.to_string()
        } else {
            format!("{} {}", self.method, self.path)
        }
    }
}
