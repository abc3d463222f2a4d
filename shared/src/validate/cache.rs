//! Checks of a stage's cache settings: `stage prod: cache.ttl_seconds: must be <= 3600`.

use super::access::check_route_key;
use super::{METHODS, Result, err};
use crate::model::{CacheKeyParameters, CacheSettings, MAX_CACHE_TTL_SECONDS};

/// A stage cache smaller than this could not hold one typical answer.
const MIN_CAPACITY_BYTES: u64 = 64 * 1024;
/// 16 GiB: beyond one node's memory in any sane deployment; a typo guard.
const MAX_CAPACITY_BYTES: u64 = 16 * 1024 * 1024 * 1024;

fn check_ttl(me: &str, field: &str, ttl: u32) -> Result {
    if ttl > MAX_CACHE_TTL_SECONDS {
        return Err(err(
            me,
            field,
            format!("must be <= {MAX_CACHE_TTL_SECONDS}"),
        ));
    }
    Ok(())
}

/// Header names, query string names and path parameter names: non-empty, no spaces or controls.
fn check_names<'a>(me: &str, field: &str, names: impl IntoIterator<Item = &'a String>) -> Result {
    for name in names {
        if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(err(
                me,
                field,
                format!("'{name}' is not a parameter name (non-empty, no spaces)"),
            ));
        }
    }
    Ok(())
}

impl CacheKeyParameters {
    fn check(&self, me: &str, field: &str) -> Result {
        check_names(me, &format!("{field}.query_strings"), &self.query_strings)?;
        check_names(me, &format!("{field}.headers"), &self.headers)?;
        let header_ok = |h: &String| http_token(h);
        if let Some(bad) = self.headers.iter().find(|h| !header_ok(h)) {
            return Err(err(
                me,
                format!("{field}.headers"),
                format!("'{bad}' is not a valid header name"),
            ));
        }
        check_names(me, &format!("{field}.path"), self.path.iter().flatten())
    }
}

fn http_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl CacheSettings {
    /// `me` names the stage (`stage prod`).
    pub fn check(&self, me: &str) -> Result {
        if !(MIN_CAPACITY_BYTES..=MAX_CAPACITY_BYTES).contains(&self.capacity_bytes) {
            return Err(err(
                me,
                "cache.capacity_bytes",
                format!("must be between {MIN_CAPACITY_BYTES} and {MAX_CAPACITY_BYTES}"),
            ));
        }
        check_ttl(me, "cache.ttl_seconds", self.ttl_seconds)?;
        if !self.status_header.is_empty() && !http_token(&self.status_header) {
            return Err(err(
                me,
                "cache.status_header",
                "must be a header name, or empty for none",
            ));
        }
        for (key, route) in &self.routes {
            check_route_key(me, "cache.routes", key)?;
            let field = format!("cache.routes.{key}");
            if let Some(ttl) = route.ttl_seconds {
                check_ttl(me, &format!("{field}.ttl_seconds"), ttl)?;
            }
            for method in route.methods.iter().flatten() {
                if method == "ANY" || !METHODS.contains(&method.as_str()) {
                    return Err(err(
                        me,
                        format!("{field}.methods"),
                        format!("'{method}' is not a method (GET, POST, ... in upper case)"),
                    ));
                }
            }
            route
                .key_parameters
                .check(me, &format!("{field}.key_parameters"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::model::*;

    fn stage(cache: serde_json::Value) -> Stage {
        serde_json::from_value(serde_json::json!({"name": "prod", "cache": cache})).unwrap()
    }

    #[test]
    fn defaults_follow_aws() {
        let s = stage(serde_json::json!({"enabled": true}));
        let cache = s.cache.as_ref().unwrap();
        assert_eq!(cache.ttl_seconds, 300);
        assert!(cache.require_authorization);
        assert_eq!(
            cache.unauthorized_handling,
            UnauthorizedCacheControl::SucceedWithResponseHeader
        );
        assert_eq!(cache.status_header, "x-cache");
        assert!(s.validate(ApiKind::Rest).is_ok());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                serde_json::json!({"ttl_seconds": 3601}),
                "stage prod: cache.ttl_seconds: must be <= 3600",
            ),
            (
                serde_json::json!({"capacity_bytes": 10}),
                "stage prod: cache.capacity_bytes: must be between",
            ),
            (
                serde_json::json!({"status_header": "x cache"}),
                "stage prod: cache.status_header",
            ),
            (
                serde_json::json!({"routes": {"GET /a": {"ttl_seconds": 7200}}}),
                "stage prod: cache.routes.GET /a.ttl_seconds: must be <= 3600",
            ),
            (
                serde_json::json!({"routes": {"GET /a": {"methods": ["ANY"]}}}),
                "stage prod: cache.routes.GET /a.methods",
            ),
            (
                serde_json::json!({"routes": {"FETCH /a": {}}}),
                "stage prod: cache.routes.FETCH /a",
            ),
            (
                serde_json::json!({"routes": {"GET /a": {"key_parameters": {"headers": ["bad header"]}}}}),
                "stage prod: cache.routes.GET /a.key_parameters.headers",
            ),
            (
                serde_json::json!({"routes": {"GET /a": {"key_parameters": {"query_strings": [""]}}}}),
                "stage prod: cache.routes.GET /a.key_parameters.query_strings",
            ),
        ];
        for (cache, expected) in cases {
            let error = stage(cache.clone())
                .validate(ApiKind::Rest)
                .unwrap_err()
                .to_string();
            assert!(error.starts_with(expected), "{cache}: {error}");
        }
    }

    #[test]
    fn unauthorized_handling_takes_aws_names() {
        let s = stage(serde_json::json!({"unauthorized_handling": "FAIL_WITH_403"}));
        assert_eq!(
            s.cache.unwrap().unauthorized_handling,
            UnauthorizedCacheControl::FailWith403
        );
        let bad = serde_json::from_value::<Stage>(
            serde_json::json!({"name": "p", "cache": {"unauthorized_handling": "fail"}}),
        );
        assert!(bad.is_err());
    }
}
