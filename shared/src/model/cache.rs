//! A stage's response cache (`stage.cache`) and its per-route overrides, as Amazon API
//! Gateway's stage cache settings and method settings describe them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DEFAULT_CACHE_TTL_SECONDS: u32 = 300;
pub const MAX_CACHE_TTL_SECONDS: u32 = 3600;
pub const DEFAULT_CACHE_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;
/// Responses with larger bodies are passed through, never stored.
pub const MAX_CACHED_BODY_BYTES: u64 = 1024 * 1024;

/// Stage-wide cache settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheSettings {
    #[serde(default)]
    pub enabled: bool,
    /// What the stage's entries may weigh together (bodies + headers), on each node.
    #[serde(default = "default_capacity")]
    pub capacity_bytes: u64,
    /// How long an entry is served (0: nothing is cached), at most 3600.
    #[serde(default = "default_ttl")]
    pub ttl_seconds: u32,
    /// `Cache-Control: max-age=0` invalidates the entry only for authorized callers.
    #[serde(default = "yes")]
    pub require_authorization: bool,
    /// What an unauthorized `max-age=0` gets.
    #[serde(default)]
    pub unauthorized_handling: UnauthorizedCacheControl,
    /// Response header telling `Hit` from `Miss`; empty: no header.
    #[serde(default = "default_status_header")]
    pub status_header: String,
    /// Non-2xx integration responses are cached too.
    #[serde(default)]
    pub cache_non_2xx: bool,
    /// Overrides by route key (`GET /pets/{id}`).
    #[serde(default)]
    pub routes: BTreeMap<String, RouteCacheSettings>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            enabled: false,
            capacity_bytes: default_capacity(),
            ttl_seconds: default_ttl(),
            require_authorization: true,
            unauthorized_handling: UnauthorizedCacheControl::default(),
            status_header: default_status_header(),
            cache_non_2xx: false,
            routes: BTreeMap::new(),
        }
    }
}

/// AWS's `unauthorizedCacheControlHeaderStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UnauthorizedCacheControl {
    /// The request is refused with 403 `ACCESS_DENIED`.
    #[serde(rename = "FAIL_WITH_403")]
    FailWith403,
    /// The header is ignored and the answer carries a `Warning` saying so (AWS's default).
    #[default]
    SucceedWithResponseHeader,
    /// The header is ignored silently.
    SucceedWithoutResponseHeader,
}

/// One route's cache settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteCacheSettings {
    /// Replaces the stage's TTL for this route (0: this route is not cached).
    #[serde(default)]
    pub ttl_seconds: Option<u32>,
    /// Request methods whose answers are cached; default `["GET"]`.
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// Request parts that make entries differ, besides method and path.
    #[serde(default)]
    pub key_parameters: CacheKeyParameters,
}

/// AWS's `cacheKeyParameters`: `method.request.querystring.X`, `.header.X`, `.path.X`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheKeyParameters {
    #[serde(default)]
    pub query_strings: Vec<String>,
    /// Header names (matched without regard to case).
    #[serde(default)]
    pub headers: Vec<String>,
    /// Path parameter names of the route (`id` for `/pets/{id}`). Absent: all of the route's
    /// path parameters, so `/pets/1` and `/pets/2` never share an entry; `[]` keys on the route
    /// alone, as AWS does when no path parameter is listed.
    #[serde(default)]
    pub path: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}
fn default_capacity() -> u64 {
    DEFAULT_CACHE_CAPACITY_BYTES
}
fn default_ttl() -> u32 {
    DEFAULT_CACHE_TTL_SECONDS
}
fn default_status_header() -> String {
    "x-cache".into()
}
