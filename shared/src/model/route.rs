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
