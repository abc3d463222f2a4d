//! Cache settings compiled for the request path: which requests of a route are cached, for how
//! long, and the key that tells their answers apart.

use crate::snapshot::router::Param;
use edgeway_shared::{CacheSettings, UnauthorizedCacheControl};
use http::{HeaderMap, HeaderName, Method};
use std::sync::Arc;
use std::time::Duration;

/// The stage-wide part, shared by every route of a stage.
#[derive(Debug, PartialEq)]
pub struct StagePolicy {
    pub capacity_bytes: u64,
    pub require_authorization: bool,
    pub unauthorized: UnauthorizedCacheControl,
    pub status_header: Option<HeaderName>,
    pub cache_non_2xx: bool,
}

/// One route's compiled settings; a route whose answers are never cached has none.
#[derive(Debug)]
pub struct RoutePolicy {
    pub stage: Arc<StagePolicy>,
    pub ttl: Duration,
    methods: Vec<Method>,
    query_strings: Vec<String>,
    headers: Vec<HeaderName>,
    /// `None`: every path parameter of the route.
    path: Option<Vec<String>>,
}

impl StagePolicy {
    /// `None` when the stage caches nothing.
    pub fn compile(settings: Option<&CacheSettings>) -> Option<Arc<StagePolicy>> {
        let settings = settings.filter(|s| s.enabled)?;
        Some(Arc::new(StagePolicy {
            capacity_bytes: settings.capacity_bytes,
            require_authorization: settings.require_authorization,
            unauthorized: settings.unauthorized_handling,
            status_header: HeaderName::try_from(settings.status_header.as_str()).ok(),
            cache_non_2xx: settings.cache_non_2xx,
        }))
    }
}

impl RoutePolicy {
    /// The policy of the route `route_key` (`GET /pets/{id}`), or `None` when its TTL is 0.
    pub fn compile(
        settings: &CacheSettings,
        stage: &Arc<StagePolicy>,
        route_key: &str,
    ) -> Option<Arc<RoutePolicy>> {
        let route = settings.routes.get(route_key).cloned().unwrap_or_default();
        let ttl = route.ttl_seconds.unwrap_or(settings.ttl_seconds);
        if ttl == 0 {
            return None;
        }
        let methods = route.methods.unwrap_or_else(|| vec!["GET".into()]);
        let keys = route.key_parameters;
        Some(Arc::new(RoutePolicy {
            stage: stage.clone(),
            ttl: Duration::from_secs(u64::from(ttl)),
            methods: methods
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect(),
            query_strings: keys.query_strings,
            headers: (keys.headers.iter())
                .filter_map(|h| HeaderName::try_from(h.as_str()).ok())
                .collect(),
            path: keys.path,
        }))
    }

    pub fn caches(&self, method: &Method) -> bool {
        self.methods.contains(method)
    }

    /// Method, deployment, route and the chosen parameters, each value length-prefixed so no
    /// value can imitate another's boundary. Repeated query strings and headers keep every
    /// value, in order.
    pub fn key(&self, parts: KeyParts<'_>) -> String {
        let mut key = String::with_capacity(128);
        for fixed in [parts.method.as_str(), parts.deployment, parts.route] {
            push(&mut key, 'f', fixed);
        }
        for name in &self.query_strings {
            for value in query_values(parts.query, name) {
                push(&mut key, 'q', name);
                push(&mut key, '=', value);
            }
        }
        for name in &self.headers {
            for value in parts.headers.get_all(name) {
                push(&mut key, 'h', name.as_str());
                push(&mut key, '=', &String::from_utf8_lossy(value.as_bytes()));
            }
        }
        let wanted = |p: &&Param<'_>| match &self.path {
            None => true,
            Some(names) => names.iter().any(|n| **n == *p.name),
        };
        for param in parts.params.iter().filter(wanted) {
            push(&mut key, 'p', &param.name);
            push(&mut key, '=', param.raw);
        }
        key
    }
}

/// What a cache key is made of.
pub struct KeyParts<'a> {
    pub method: &'a Method,
    pub deployment: &'a str,
    pub route: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub params: &'a [Param<'a>],
}

fn push(key: &mut String, tag: char, value: &str) {
    use std::fmt::Write;
    let _ = write!(key, "{tag}{}:{value}", value.len());
}

/// Raw values of `name` in a query string (`a=1&b&a=2` gives `1`, `2` for `a`; `b` gives ``).
fn query_values<'q>(query: Option<&'q str>, name: &'q str) -> impl Iterator<Item = &'q str> {
    query.unwrap_or("").split('&').filter_map(move |pair| {
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        (n == name).then_some(v)
    })
}

/// `Cache-Control: max-age=0` on the request: the caller asks for a fresh answer.
pub fn wants_invalidation(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|directive| directive.trim().eq_ignore_ascii_case("max-age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route_policy(settings: serde_json::Value, route: &str) -> Option<Arc<RoutePolicy>> {
        let settings: CacheSettings = serde_json::from_value(settings).unwrap();
        let stage = StagePolicy::compile(Some(&settings))?;
        RoutePolicy::compile(&settings, &stage, route)
    }

    fn param<'a>(name: &str, raw: &'a str) -> Param<'a> {
        Param {
            name: name.into(),
            value: raw.into(),
            raw,
        }
    }

    fn key(policy: &RoutePolicy, query: Option<&str>, headers: &HeaderMap, id: &str) -> String {
        let params = [param("id", id)];
        policy.key(KeyParts {
            method: &Method::GET,
            deployment: "d1",
            route: "GET /pets/{id}",
            query,
            headers,
            params: &params,
        })
    }

    #[test]
    fn disabled_stages_and_zero_ttls_cache_nothing() {
        assert!(route_policy(json!({"enabled": false}), "GET /a").is_none());
        assert!(route_policy(json!({"enabled": true, "ttl_seconds": 0}), "GET /a").is_none());
        let off = json!({"enabled": true, "routes": {"GET /a": {"ttl_seconds": 0}}});
        assert!(route_policy(off.clone(), "GET /a").is_none());
        assert!(route_policy(off, "GET /b").is_some());
    }

    #[test]
    fn only_get_unless_the_route_says_otherwise() {
        let get = route_policy(json!({"enabled": true}), "ANY /a").unwrap();
        assert!(get.caches(&Method::GET) && !get.caches(&Method::POST));
        let post = route_policy(
            json!({"enabled": true, "routes": {"POST /a": {"methods": ["POST"]}}}),
            "POST /a",
        )
        .unwrap();
        assert!(post.caches(&Method::POST) && !post.caches(&Method::GET));
    }

    #[test]
    fn keys_hold_the_chosen_parameters_only() {
        let policy = route_policy(
            json!({"enabled": true, "routes": {"GET /pets/{id}": {"key_parameters":
                {"query_strings": ["size"], "headers": ["Accept-Language"]}}}}),
            "GET /pets/{id}",
        )
        .unwrap();
        let none = HeaderMap::new();
        let base = key(&policy, Some("size=1&other=x"), &none, "7");
        assert_eq!(base, key(&policy, Some("other=y&size=1"), &none, "7"));
        assert_ne!(base, key(&policy, Some("size=2"), &none, "7"));
        assert_ne!(
            base,
            key(&policy, Some("size=1"), &none, "8"),
            "path params by default"
        );
        let mut german = HeaderMap::new();
        german.insert("accept-language", "de".parse().unwrap());
        assert_ne!(base, key(&policy, Some("size=1"), &german, "7"));
        // A value cannot pose as the next field.
        assert_ne!(
            key(&policy, Some("size=1p2:id"), &none, "7"),
            key(&policy, Some("size=1"), &none, "7")
        );
    }

    #[test]
    fn an_empty_path_list_keys_on_the_route_alone() {
        let policy = route_policy(
            json!({"enabled": true, "routes": {"GET /pets/{id}": {"key_parameters": {"path": []}}}}),
            "GET /pets/{id}",
        )
        .unwrap();
        let none = HeaderMap::new();
        assert_eq!(
            key(&policy, None, &none, "1"),
            key(&policy, None, &none, "2")
        );
    }

    #[test]
    fn max_age_zero_is_found_among_directives() {
        let mut headers = HeaderMap::new();
        headers.insert("cache-control", "no-transform, Max-Age=0".parse().unwrap());
        assert!(wants_invalidation(&headers));
        headers.insert("cache-control", "max-age=60".parse().unwrap());
        assert!(!wants_invalidation(&headers));
    }
}
